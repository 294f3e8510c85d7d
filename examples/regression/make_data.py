"""Write the regression example's SYNTHETIC table: house sale prices, in thousands.

Nothing here is real data. Each row is a house: its floor area, rooms, age, distance to the
centre, district (a category), heating (a category, sometimes unrecorded) and price (in
thousands, e.g. 4125.0). Some areas and ages are missing, as they are in real listings.

    python examples/regression/make_data.py [--out examples/regression/houses.csv] [--rows 600]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DISTRICTS = {"north": 1.25, "south": 0.9, "east": 1.0, "west": 1.1, "harbour": 1.45}
HEATING = {"gas": 1.0, "heat_pump": 1.06, "oil": 0.95}


def make_houses(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.gamma(9.0, 13.0, rows) + 25  # m², mostly 60-200
    rooms = np.clip(np.round(area / 28 + rng.normal(0, 0.8, rows)), 1, 9).astype(int)
    age = rng.uniform(0, 90, rows)
    distance = rng.gamma(2.0, 3.0, rows)  # km to the centre
    district = rng.choice(list(DISTRICTS), rows)
    heating = rng.choice(list(HEATING), rows, p=[0.6, 0.25, 0.15])
    factor = np.array([DISTRICTS[d] for d in district]) * np.array([HEATING[h] for h in heating])
    price = (2.6 * area * factor + 12 * rooms - 0.9 * age - 9 * np.sqrt(distance) + 60) * (
        10 * rng.lognormal(0, 0.08, rows)
    )  # thousands: 1,500 ... 9,000
    frame = pd.DataFrame(
        {
            "area": area.round(1),
            "rooms": rooms,
            "age": age.round(0),
            "distance_km": distance.round(2),
            "district": district,
            "heating": heating.astype(object),
            "price": price.round(1),  # thousands
        }
    )
    # Listings leave things out: ~5% of areas and ages, ~8% of heating types.
    for column, share in (("area", 0.05), ("age", 0.05), ("heating", 0.08)):
        frame.loc[rng.random(rows) < share, column] = None
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("houses.csv"))
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    make_houses(args.rows, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.rows} houses to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
