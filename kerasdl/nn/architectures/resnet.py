"""ResNet-50 (He et al., 2015) and a small ResNet, built from `kerasdl.nn.blocks`.

Course 4, Week 2 ("ResNets"): a stem (7x7/2 convolution, 3x3/2 max pool),
then stages of residual blocks; each stage starts with a `ConvolutionalBlock`
(projection shortcut W_s, stride 2 except in the first stage) followed by
`IdentityBlock`s; global average pooling and a softmax close the network.
ResNet-50 uses bottleneck blocks (1x1, 3x3, 1x1) in stages of 3, 4, 6 and 3
blocks: 25.6M parameters (25,636,712 counting batch norm's moving
statistics, like Keras).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerasdl.nn.blocks import ConvolutionalBlock, IdentityBlock

RESNET50_STAGES = (((64, 64, 256), 3), ((128, 128, 512), 4), ((256, 256, 1024), 6), ((512, 512, 2048), 3))


def resnet(
    input_shape: tuple[int, int, int],
    classes: int,
    stages: Sequence[tuple[Sequence[int], int]],
    stem_filters: int,
    stem_kernel: int = 7,
    stem_stride: int = 2,
    stem_pool: bool = True,
    name: str = "resnet",
) -> keras.Model:
    """A ResNet: stem, residual stages, global average pooling, softmax.

    Args:
        input_shape: (height, width, channels).
        classes: size of the softmax output.
        stages: (filters of each block, number of blocks) per stage; two
            filters give basic blocks, three give bottleneck blocks.
        stem_filters, stem_kernel, stem_stride: the first convolution.
        stem_pool: follow the stem with a 3x3/2 max pool.
        name: the model's name.
    """
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(stem_filters, stem_kernel, strides=stem_stride, padding="same", name="stem_conv")(
        inputs
    )
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.Activation("relu")(x)
    if stem_pool:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (filters, blocks) in enumerate(stages, start=1):
        x = ConvolutionalBlock(filters, strides=1 if stage == 1 else 2, name=f"stage{stage}_block1")(x)
        for block in range(2, blocks + 1):
            x = IdentityBlock(filters, name=f"stage{stage}_block{block}")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet50(input_shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> keras.Model:
    """ResNet-50 at the published size (25.6M parameters for 1000 classes)."""
    return resnet(input_shape, classes, RESNET50_STAGES, 64, name="resnet50")


def resnet_small(input_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """A small ResNet for Fashion-MNIST: 3x3 stem (32), basic blocks in stages of 32, 64 and 128 filters."""
    stages = (((32, 32), 2), ((64, 64), 2), ((128, 128), 1))
    return resnet(input_shape, classes, stages, 32, stem_kernel=3, stem_stride=1, stem_pool=False,
                  name="resnet_small")  # fmt: skip
