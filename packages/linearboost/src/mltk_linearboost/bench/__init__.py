"""The benchmark harness of ``ml-toolkit boost bench``.

``models`` is the registry of compared classifiers, ``runner`` the repeated
cross-validation, ``stats`` the significance tests, ``summary`` the
aggregation, ``report`` and ``plots`` the output files, and ``scaling`` the
timing study on synthetic data of growing size.
"""
