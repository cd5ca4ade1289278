"""`python worker.py`: run the c2c workers against `C2C_TEMPORAL_ADDRESS` until interrupted.

One process polls the workflow queue and one activity queue per external system
(`{queue}-crm`, `-billing`, `-tax`, `-erp`, `-hub`); scale by running more processes. The work is in runtime/;
nothing imports this file.
"""

from runtime.process import main

if __name__ == "__main__":
    main()
