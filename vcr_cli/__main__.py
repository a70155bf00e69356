from vcr_cli.app import main

main()
