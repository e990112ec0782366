"""python -m harbourmaster"""

from harbourmaster.cli.main import main

main()
