"""Shared compute core of ml-toolkit.

The package root imports nothing heavy, so that the CLI's ``--help`` stays fast.
Import the submodules directly: ``mltk_core.devices``, ``mltk_core.dtypes``,
``mltk_core.seeding``, ``mltk_core.timing``, ``mltk_core.memory``,
``mltk_core.progress``, ``mltk_core.atomic``, ``mltk_core.metadata``,
``mltk_core.plots``, ``mltk_core.data_dir`` and ``mltk_core.errors``.
"""
