"""What pyproject.toml cannot say: the shipped training configs live in the top-level ``configs/``
folder (the project's layout) and install as the package data of ``genvid.configs``, so that
``genvid train dit/tiny`` finds them after a plain ``pip install .`` too."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["genvid", "genvid.*", "tokenizer", "tokenizer.*"]) + ["genvid.configs"],
    package_dir={"genvid.configs": "configs"},
    package_data={
        "genvid": ["demo/**/*", "pretrained/**/*", "pipelines/colour_names.tsv", "data/captions.tsv",
                   "eval/wordings.tsv", "eval/dev_wordings.tsv", "pipelines/attribute_words.tsv"],
        "genvid.configs": ["*/*.yaml"],
    },
)
