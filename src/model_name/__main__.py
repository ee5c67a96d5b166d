"""`python -m model_name`: the same command line as the `model_name` script."""

from model_name.cli import main_entry

if __name__ == "__main__":
    main_entry()
