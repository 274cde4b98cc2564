from ekraf.cli import main

main()
