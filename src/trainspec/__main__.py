from trainspec.cli import main

main()
