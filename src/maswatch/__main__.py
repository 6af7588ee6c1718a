from maswatch.cli import main

main()
