"""Write topics.csv: short sentences on four topics (sport, weather, food, technology).

Sentences come from templates filled with words drawn by a seeded generator, so the file is
the same on every machine: ``python examples/text_minilm/make_data.py`` rewrites it exactly.
Templates share no topic words, so a classifier must read the words, not the sentence form.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

PER_CLASS = 120
SEED = 0

# Sentence forms shared by every topic: {a} and {b} are topic phrases, {who} a person.
FORMS = [
    "{who} talked about {a} all evening.",
    "Everyone keeps asking about {a}.",
    "I read an article on {a} and {b} this morning.",
    "{a} was the main topic at lunch today.",
    "Have you heard the news about {a}?",
    "My neighbour cannot stop complaining about {a}.",
    "The report covered {a} in great detail.",
    "We spent the whole weekend dealing with {a}.",
    "{who} wrote a long post about {a} and {b}.",
    "Nobody expected {a} to matter this much.",
    "There is a podcast episode about {a}.",
    "It all started with {a}, then came {b}.",
    "{who} thinks {a} is overrated.",
    "The headline today was about {a}.",
    "Let's not talk about {a} again.",
    "{a}? {who} was surprised too.",
]

WHO = ["My sister", "The teacher", "Our boss", "A friend of mine", "Grandpa", "The host", "She"]

TOPICS: dict[str, list[str]] = {
    "sport": [
        "the football final",
        "the marathon results",
        "a last-minute goal",
        "the tennis tournament",
        "the new coach of the team",
        "the basketball playoffs",
        "a world record in swimming",
        "the referee's decision",
        "the cycling race through the mountains",
        "the striker's transfer",
        "the penalty shootout",
        "the league table",
        "the Olympic sprinters",
        "the injured goalkeeper",
    ],
    "weather": [
        "the heavy rain",
        "the heatwave",
        "the storm warning",
        "the snow on the roads",
        "the thick fog",
        "the forecast for tomorrow",
        "the flooding near the river",
        "the strong winds",
        "the hailstorm last night",
        "the cold front moving in",
        "the drought this summer",
        "the thunder and lightning",
        "the icy mornings",
        "the sunny spells",
    ],
    "food": [
        "the new pizza place",
        "grandma's apple pie",
        "the spicy curry recipe",
        "the price of fresh bread",
        "the vegetarian menu",
        "homemade pasta",
        "the chocolate cake",
        "the farmers' market cheese",
        "the sushi restaurant downtown",
        "a bowl of tomato soup",
        "the burnt pancakes",
        "the barbecue ribs",
        "the coffee beans from Brazil",
        "the lemon tart",
    ],
    "technology": [
        "the new smartphone",
        "the software update",
        "the laptop battery",
        "the data breach",
        "the chip shortage",
        "the latest graphics card",
        "the password manager",
        "the cloud outage",
        "the programming language release",
        "the broken wifi router",
        "the electric car software",
        "the operating system bug",
        "the robot vacuum",
        "the virtual reality headset",
    ],
}


def sentences(rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for topic, phrases in TOPICS.items():
        seen: set[str] = set()
        while len(seen) < PER_CLASS:
            a, b = rng.sample(phrases, 2)
            text = rng.choice(FORMS).format(a=a, b=b, who=rng.choice(WHO))
            seen.add(text[0].upper() + text[1:])
        rows += [(text, topic) for text in sorted(seen)]
    rng.shuffle(rows)
    return rows


def main() -> None:
    path = Path(__file__).with_name("topics.csv")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "topic"])
        writer.writerows(sentences(random.Random(SEED)))


if __name__ == "__main__":
    main()
