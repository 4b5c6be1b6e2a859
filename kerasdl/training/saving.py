"""Saving and loading whole models: atomic writes, `.keras` only, untrusted files checked first.

A `.keras` file is a zip holding `config.json` (the architecture, as nested
`{"module", "class_name", "config", "registered_name"}` records),
`metadata.json` and the weights. Loading it rebuilds every object the
config names, so a file from a stranger must name only code we trust.
Keras' `safe_mode=True` refuses pickled lambdas, and Keras 3.11 closed the
known ways around it (CVE-2025-8747, CVE-2025-9906); `load_model` here
also reads the archive *before* Keras does and accepts only an allowlist:

- only `.keras` paths (legacy `.h5` and SavedModel are refused outright),
  and only under Keras >= 3.11;
- every archive member has a plain relative name (no `../x`, no absolute
  path, no duplicate) and a declared size within a limit
  (`max_config_bytes` for `config.json`, `max_member_bytes` for the rest),
  checked before anything is read;
- every record of `config.json` names a class on `KERAS_OBJECTS` (the
  Keras layers, models, optimizers, schedules, losses, metrics,
  initializers, regularizers, constraints and dtype policies our models
  use), on `KERAS_OPERATIONS` (the tensor operations that compute masks,
  recorded by models that mask their input) or on `KERASDL_OBJECTS`
  (kerasdl's classes registered with
  `keras.saving.register_keras_serializable(package="kerasdl")`); a
  `function` record must name a Keras activation, loss or metric on
  `KERAS_FUNCTIONS`. Anything else is refused: a `Lambda` or `TFSMLayer`
  layer at any depth, a callable such as `keras.utils.get_file` or
  `os.system`, a record without a `module`, another package's custom
  object (also as a bare "package>Name" string, which Keras would resolve);
- then `keras.saving.load_model(path, safe_mode=True)`; there is no way to
  pass `safe_mode=False`.

Every refusal is an `UntrustedModelError` that names what was refused.
The kerasdl modules the config names are imported before loading, so
kerasdl's objects load without `custom_objects`.

`save_model` writes to a temporary `.keras` file beside the target and
renames it into place (`kerasdl.training.io.atomic_path`), so a crash
mid-save leaves the previous file intact.

Example:

    save_model(model, run.dir / "model.keras")
    model = load_model(run.dir / "model.keras")
"""

from __future__ import annotations

import importlib
import json
import os
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any

import keras

from kerasdl.training.io import atomic_path

TRUSTED_PACKAGES = ("keras", "kerasdl")
MIN_KERAS_VERSION = (3, 11)  # safe_mode bypasses CVE-2025-8747 and CVE-2025-9906 are fixed from 3.11 on
MAX_CONFIG_BYTES = 16 * 2**20  # config.json: a ResNet-50's is about 0.2 MiB
MAX_MEMBER_BYTES = 2 * 2**30  # weights and the other members
CONFIG_FILE = "config.json"


def _names(prefix: str, names: str) -> frozenset[str]:
    return frozenset(f"{prefix}.{name}" for name in names.split())


# Keras classes a model file may name, as the `module.class_name` Keras writes (the canonical public name).
KERAS_OBJECTS = frozenset().union(
    _names("keras", "Model Sequential DTypePolicy FloatDTypePolicy"),
    {"keras.src.models.functional.Functional"},  # what keras.Model(inputs, outputs) saves as
    _names(
        "keras.layers",
        """
        InputLayer Dense EinsumDense Embedding Identity
        Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose
        DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D
        MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
        GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
        GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
        BatchNormalization LayerNormalization GroupNormalization UnitNormalization
        Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
        AlphaDropout ActivityRegularization
        Flatten Reshape Permute RepeatVector Cropping1D Cropping2D Cropping3D
        ZeroPadding1D ZeroPadding2D ZeroPadding3D UpSampling1D UpSampling2D UpSampling3D
        Activation ReLU LeakyReLU PReLU ELU Softmax
        Add Subtract Multiply Average Maximum Minimum Concatenate Dot
        Rescaling Normalization Resizing CenterCrop
        RandomFlip RandomRotation RandomZoom RandomTranslation RandomCrop RandomContrast RandomBrightness
        RNN SimpleRNN GRU LSTM SimpleRNNCell GRUCell LSTMCell StackedRNNCells Bidirectional TimeDistributed
        Masking
        """,
    ),
    _names(
        "keras.optimizers",
        "SGD Adam AdamW RMSprop Adagrad Adadelta Adamax Nadam Lion LossScaleOptimizer",
    ),
    # Under the PyTorch backend Keras saves its optimizers by their backend classes' modules.
    *(
        _names(f"keras.src.backend.torch.optimizers.torch_{module}", name)
        for module, name in (
            ("sgd", "SGD"),
            ("adam", "Adam"),
            ("adamw", "AdamW"),
            ("rmsprop", "RMSprop"),
            ("adagrad", "Adagrad"),
            ("adadelta", "Adadelta"),
            ("adamax", "Adamax"),
            ("nadam", "Nadam"),
            ("lion", "Lion"),
        )
    ),  # fmt: skip
    _names(
        "keras.optimizers.schedules",
        """
        ExponentialDecay PiecewiseConstantDecay PolynomialDecay InverseTimeDecay
        CosineDecay CosineDecayRestarts
        """,
    ),
    _names(
        "keras.losses",
        """
        BinaryCrossentropy BinaryFocalCrossentropy CategoricalCrossentropy CategoricalFocalCrossentropy
        SparseCategoricalCrossentropy MeanSquaredError MeanAbsoluteError MeanAbsolutePercentageError
        MeanSquaredLogarithmicError Huber LogCosh KLDivergence Poisson Hinge SquaredHinge CategoricalHinge
        CosineSimilarity
        """,
    ),
    _names(
        "keras.metrics",
        """
        Mean Sum Accuracy BinaryAccuracy CategoricalAccuracy SparseCategoricalAccuracy
        TopKCategoricalAccuracy SparseTopKCategoricalAccuracy
        BinaryCrossentropy CategoricalCrossentropy SparseCategoricalCrossentropy
        MeanSquaredError MeanAbsoluteError RootMeanSquaredError AUC Precision Recall F1Score FBetaScore
        TruePositives TrueNegatives FalsePositives FalseNegatives MeanIoU
        """,
    ),
    _names(
        "keras.initializers",
        """
        Zeros Ones Constant RandomNormal RandomUniform TruncatedNormal VarianceScaling
        GlorotNormal GlorotUniform HeNormal HeUniform LecunNormal LecunUniform Orthogonal Identity
        """,
    ),
    _names("keras.regularizers", "L1 L2 L1L2 OrthogonalRegularizer"),
    _names("keras.constraints", "MaxNorm MinMaxNorm NonNeg UnitNorm"),
)

# Tensor operations a model file may name. A functional model records the mask a layer computes from its
# symbolic inputs as operation nodes of its graph (Keras 3 builds masks with `keras.ops`), so a model that
# masks its input cannot be saved without them: `Embedding(mask_zero=True)` records `not_equal(ids, 0)`,
# `Masking` `any(not_equal(x, value), axis=-1)`, and merging masked inputs (Add, Concatenate, ...)
# `logical_or`, `concatenate`, `expand_dims`, `zeros_like` and `ones_like`. These are safe to rebuild: each
# class's config holds only its name and plain arguments (axis, keepdims, a dtype name), `from_config`
# passes them to the constructor, and `call` is one fixed `keras.ops` function of its tensor inputs; none
# takes a callable, reads a file or imports anything. Operations that take functions (`cond`, `map`,
# `scan`, `while_loop`, ...) stay refused.
KERAS_OPERATIONS = _names(
    "keras.src.ops.numpy", "NotEqual Any LogicalOr Concatenate ExpandDims ZerosLike OnesLike"
)

# Keras functions a `function` record may name (a loss or an activation passed as a function).
KERAS_FUNCTIONS = frozenset().union(
    _names(
        "keras.activations",
        """
        relu relu6 leaky_relu elu selu celu gelu glu silu swish hard_silu hard_swish mish
        sigmoid hard_sigmoid log_sigmoid softmax log_softmax softplus softsign tanh hard_tanh
        linear exponential
        """,
    ),
    _names(
        "keras.losses",
        """
        binary_crossentropy binary_focal_crossentropy categorical_crossentropy
        categorical_focal_crossentropy sparse_categorical_crossentropy
        mean_squared_error mean_absolute_error mean_absolute_percentage_error
        mean_squared_logarithmic_error huber log_cosh kl_divergence poisson hinge squared_hinge
        categorical_hinge cosine_similarity
        """,
    ),
    _names(
        "keras.metrics",
        """
        binary_accuracy categorical_accuracy sparse_categorical_accuracy
        top_k_categorical_accuracy sparse_top_k_categorical_accuracy
        binary_crossentropy categorical_crossentropy sparse_categorical_crossentropy
        mean_squared_error mean_absolute_error
        """,
    ),
)
# Where Keras looks up a function saved with module "builtins", in its order
# (keras/src/saving/serialization_lib.py, BUILTIN_MODULES).
_BUILTIN_FUNCTION_MODULES = (
    "activations",
    "constraints",
    "initializers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
)

# kerasdl's classes registered as "kerasdl>ClassName"; tests/kerasdl/training/test_saving.py checks the
# list against the registry, so a newly registered class must be added here to load.
KERASDL_OBJECTS = frozenset().union(
    _names("kerasdl.nn.layers.dense", "Dense"),
    _names("kerasdl.nn.layers.batch_norm", "BatchNorm"),
    _names("kerasdl.nn.layers.dropout", "InvertedDropout"),
    _names("kerasdl.nn.layers.softmax", "Softmax"),
    _names("kerasdl.nn.blocks", "IdentityBlock ConvolutionalBlock InceptionModule"),
    _names("kerasdl.nn.cells", "SimpleRNNCell GRUCell LSTMCell"),
    _names("kerasdl.nn.attention", "Attention AttentionDecoder"),
    _names("kerasdl.nn.ctc", "CTCLoss"),
    _names("kerasdl.nn.initializers", "He Xavier XavierAverage"),
    _names("kerasdl.nn.regularizers", "L1 L2"),
    _names("kerasdl.nn.optimizers", "Momentum RMSprop Adam"),
    _names(
        "kerasdl.nn.schedules",
        "InverseTimeDecay ExponentialDecay InverseSqrtDecay StaircaseDecay ManualDecay OneCycle",
    ),
    _names("kerasdl.nn.losses", "BinaryCrossentropy CategoricalCrossentropy SparseCategoricalCrossentropy"),
    _names("kerasdl.nn.multitask", "MaskedBinaryCrossentropy MaskedBinaryAccuracy"),
    _names("kerasdl.nn.detection.yolo", "YoloLoss"),
    _names("kerasdl.nn.detection.localization", "LocalizationHead LocalizationLoss"),
    _names("kerasdl.nn.triplet", "TripletLoss"),
    _names("kerasdl.nn.siamese", "SiameseHead"),
    _names("kerasdl.nn.style", "VGGPreprocess ClipToUnitInterval"),
    _names("kerasdl.nn.word2vec", "NegativeSampler SkipGram"),
    _names("kerasdl.nn.glove", "GloVe GloVeLoss"),
    _names("kerasdl.training.loop", "CustomStepModel"),
    _names("kerasdl.evaluation.ensemble", "Ensemble"),
    _names("kerasdl.evaluation.multicrop", "MultiCropClassifier"),
)

# Records that carry data, not code; Keras rebuilds them without importing anything.
_DATA_RECORDS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
)


class UntrustedModelError(ValueError):
    """A model file names code, or holds a member, that kerasdl will not load."""


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(
            "Only the .keras format is supported (legacy .h5 and SavedModel files can run arbitrary code "
            f"on load). Received: path={str(path)!r}"
        )
    return path


def check_keras_version(version: str | None = None) -> None:
    """Raises `RuntimeError` when Keras is older than `MIN_KERAS_VERSION` (known safe_mode bypasses).

    Args:
        version: the version to check; `keras.__version__` when None.
    """
    version = keras.__version__ if version is None else version
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None or (int(match[1]), int(match[2])) < MIN_KERAS_VERSION:
        minimum = ".".join(map(str, MIN_KERAS_VERSION))
        raise RuntimeError(
            f"Loading a .keras file needs Keras >= {minimum}: older versions let a crafted file run code "
            f"despite safe_mode (CVE-2025-8747, CVE-2025-9906). Upgrade with "
            f"`pip install 'keras>={minimum},<4'`. Received: keras.__version__={version!r}"
        )


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves `model` to the `.keras` file `path` atomically (temporary file, fsync, rename).

    Returns:
        The path written.
    """
    path = _check_path(path)
    with atomic_path(path, extension=".keras") as temporary:
        model.save(temporary, overwrite=True)
    return path


# -- the archive ------------------------------------------------------------------------------------


def _unsafe_member_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", name) is not None  # a Windows drive
        or ".." in parts
        or "\x00" in name
    )


def check_archive(
    archive: zipfile.ZipFile,
    max_config_bytes: int = MAX_CONFIG_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> None:
    """Raises `UntrustedModelError` for a member with an unsafe name or an oversized declared size.

    Reads only the archive's directory: the sizes checked are the declared
    uncompressed ones (`ZipInfo.file_size`), which also bound what
    `zipfile` will decompress.

    Args:
        archive: an open `.keras` archive.
        max_config_bytes: the most `config.json` may hold.
        max_member_bytes: the most any other member may hold.
    """
    seen = set()
    for info in archive.infolist():
        name = info.filename
        if _unsafe_member_name(name):
            raise UntrustedModelError(
                f"The model file holds the member {name!r}, whose name leaves the archive (an absolute "
                "path or '..'); kerasdl refuses it."
            )
        if posixpath.normpath(name) in seen:
            raise UntrustedModelError(f"The model file holds the member {name!r} twice; kerasdl refuses it.")
        seen.add(posixpath.normpath(name))
        limit, argument = max_member_bytes, "max_member_bytes"
        if name == CONFIG_FILE:
            limit, argument = max_config_bytes, "max_config_bytes"
        if info.file_size > limit:
            raise UntrustedModelError(
                f"The model file's member {name!r} declares {info.file_size} bytes, over the limit of "
                f"{limit} bytes; pass a larger {argument} if the file is trusted."
            )


def read_model_config(
    path: str | os.PathLike,
    max_config_bytes: int = MAX_CONFIG_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> dict:
    """The parsed `config.json` of a `.keras` file, after `check_archive` (no code is run).

    Raises:
        ValueError: not a `.keras` path, or not a readable one.
        UntrustedModelError: see `check_archive`.
    """
    path = _check_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            check_archive(archive, max_config_bytes, max_member_bytes)
            config = json.loads(archive.read(CONFIG_FILE))
    except UntrustedModelError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .keras file: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a readable .keras file: its {CONFIG_FILE} is not a JSON object.")
    return config


# -- the config ---------------------------------------------------------------------------------------


def _walk(node: Any, where: str, records: list[tuple[str, dict]], strings: list[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        if "class_name" in node:
            config = node.get("config")
            name = config.get("name") if isinstance(config, dict) else None
            where = f"{where}/{name}" if isinstance(name, str) else where
            records.append((where, node))
        for value in node.values():
            _walk(value, where, records, strings)
    elif isinstance(node, list):
        for value in node:
            _walk(value, where, records, strings)
    elif isinstance(node, str):
        strings.append((where, node))


def _builtin_function(name: str) -> str | None:
    """The Keras function Keras finds for a `function` record of module "builtins"."""
    for module in _BUILTIN_FUNCTION_MODULES:
        if callable(getattr(getattr(keras, module), name, None)):
            return f"keras.{module}.{name}"
    return None


def _check_function(record: dict, place: str) -> None:
    module, name, registered = record["module"], record.get("config"), record.get("registered_name")
    if not isinstance(name, str):
        raise UntrustedModelError(
            f"The model file holds a function record without a function name (module {module!r}, "
            f"at {place}); kerasdl refuses it."
        )
    qualified = _builtin_function(name) if module == "builtins" else f"{module}.{name}"
    if qualified not in KERAS_FUNCTIONS or registered not in (None, "function", name):
        shown = qualified or f"{module}.{name}"
        raise UntrustedModelError(
            f"The model file names the function {shown!r} (registered name {registered!r}, at {place}); "
            "kerasdl loads only the Keras activations, losses and metrics on "
            "kerasdl.training.saving.KERAS_FUNCTIONS."
        )


def _check_record(record: dict, place: str) -> str | None:
    """Raises `UntrustedModelError` unless `record` is allowed; returns the kerasdl module it needs."""
    class_name, module = record.get("class_name"), record.get("module")
    registered = record.get("registered_name")
    if class_name == "__lambda__":
        raise UntrustedModelError(
            f"The model file contains a Python lambda ({place}): it would run arbitrary code, so kerasdl "
            "refuses it."
        )
    if class_name in _DATA_RECORDS:
        return None
    if not isinstance(module, str):
        raise UntrustedModelError(
            f"The model file holds a record without a 'module' (class {class_name!r}, at {place}); "
            "kerasdl cannot tell what it would load, so it refuses it."
        )
    if class_name == "function":
        _check_function(record, place)
        return None
    if class_name == "Lambda":
        raise UntrustedModelError(
            f"The model file contains a Lambda layer ({place}): Lambda layers run arbitrary Python code, "
            "so kerasdl refuses to load them. Rebuild the model in code, or replace the Lambda with a "
            "registered layer."
        )
    package = module.split(".", 1)[0]
    if package not in TRUSTED_PACKAGES:
        raise UntrustedModelError(
            f"The model file names the module {module!r} (class {class_name!r}, at {place}); only "
            f"modules of {', '.join(TRUSTED_PACKAGES)} are loaded."
        )
    qualified = f"{module}.{class_name}"
    # Keras looks a class up by its registered name first, so that name must be the class's own.
    own_names = {f"kerasdl>{class_name}"} if package == "kerasdl" else {None, class_name}
    if registered not in own_names:
        raise UntrustedModelError(
            f"The model file names the custom object {registered!r} (class {qualified!r}, at {place}); "
            f"only Keras' objects and kerasdl's registered ones are loaded."
        )
    if package == "kerasdl":
        allowlist = "KERASDL_OBJECTS"
    elif module.startswith("keras.src.ops."):
        allowlist = "KERAS_OPERATIONS"
    else:
        allowlist = "KERAS_OBJECTS"
    if qualified not in globals()[allowlist]:
        raise UntrustedModelError(
            f"The model file names the class {qualified!r} (at {place}), which is not on kerasdl's "
            f"allowlist kerasdl.training.saving.{allowlist}; kerasdl refuses to load it."
        )
    return module if package == "kerasdl" else None


def check_model_config(config: dict) -> list[str]:
    """Raises `UntrustedModelError` unless every record of a model config is on the allowlist.

    Args:
        config: the parsed `config.json` of a `.keras` file.

    Returns:
        The kerasdl modules the config names (to import before loading).
    """
    records: list[tuple[str, dict]] = []
    strings: list[tuple[str, str]] = []
    _walk(config, "", records, strings)
    modules = set()
    for where, record in records:
        module = _check_record(record, where or "the model")
        if module is not None:
            modules.add(module)
    # Keras also turns a bare string that is a registered name into that object ("pkg>Name" as an
    # initializer), so only kerasdl's allowlisted names may appear as strings.
    registered = keras.saving.get_custom_objects()
    ours = {"kerasdl>" + qualified.rsplit(".", 1)[1] for qualified in KERASDL_OBJECTS}
    for where, text in strings:
        if text in registered and text not in ours:
            raise UntrustedModelError(
                f"The model file names the custom object {text!r} (at {where or 'the model'}); only Keras' "
                "objects and kerasdl's registered ones are loaded."
            )
    return sorted(modules)


def load_model(
    path: str | os.PathLike,
    compile: bool = True,
    max_config_bytes: int = MAX_CONFIG_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> keras.Model:
    """Loads a `.keras` model after checking its archive and config (see the module docstring).

    Args:
        path: a `.keras` file.
        compile: also restore the optimizer, loss and metrics.
        max_config_bytes: the most `config.json` may hold.
        max_member_bytes: the most any other archive member may hold.

    Raises:
        RuntimeError: Keras is older than `MIN_KERAS_VERSION`.
        ValueError: not a `.keras` path, or not a readable one.
        UntrustedModelError: an unsafe member, or a record outside the allowlist.
    """
    check_keras_version()
    for module in check_model_config(read_model_config(path, max_config_bytes, max_member_bytes)):
        importlib.import_module(module)  # registers kerasdl's custom objects
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
