from gbench.cli import main

main()
