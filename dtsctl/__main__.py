from dtsctl.cli.app import main

main()
