"""`python -m kubectl_dra` runs the same CLI as the `kubectl-dra` console script."""

from kubectl_dra.launch import main

if __name__ == "__main__":
    main()
