from leadsmith.cli import main

main()
