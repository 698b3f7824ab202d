from pneumogan.cli import main

main()
