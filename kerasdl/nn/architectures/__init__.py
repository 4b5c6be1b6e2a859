"""Course 4, Week 2's case studies as functions that build Keras models.

Each network comes at its published size and at a small size for
Fashion-MNIST (28x28x1, 10 classes):

| builder | published | small |
|---|---|---|
| LeNet-5 | `lenet5()` (61,706 params) | `lenet5((28, 28, 1))` |
| AlexNet | `alexnet()` (~62M) | `alexnet_small()` |
| VGG-16 | `vgg16()` (138M) | `vgg_small()` |
| ResNet-50 | `resnet50()` (25.6M) | `resnet_small()` |
| Inception (GoogLeNet) | `googlenet()` (~7M) | `inception_small()` |

Batch norm layers use momentum 0.9 (the lesson's beta for the moving
averages) rather than Keras' 0.99, whose moving statistics lag far behind
after the few hundred steps of a CPU-sized training run.

`SMALL_BUILDERS` maps the names the experiments accept to the small builders.
"""

from kerasdl.nn.architectures.alexnet import alexnet, alexnet_small
from kerasdl.nn.architectures.conv_nd import signal_classifier_1d, volume_classifier_3d
from kerasdl.nn.architectures.inception import googlenet, inception_network, inception_small
from kerasdl.nn.architectures.lenet import lenet5
from kerasdl.nn.architectures.resnet import resnet, resnet50, resnet_small
from kerasdl.nn.architectures.vgg import vgg, vgg16, vgg_small

PUBLISHED_BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16, "resnet50": resnet50,
                      "googlenet": googlenet}  # fmt: skip
SMALL_BUILDERS = {
    "lenet5": lambda input_shape=(28, 28, 1), classes=10: lenet5(input_shape, classes),
    "alexnet_small": alexnet_small,
    "vgg_small": vgg_small,
    "resnet_small": resnet_small,
    "inception_small": inception_small,
}

__all__ = [
    "PUBLISHED_BUILDERS", "SMALL_BUILDERS", "alexnet", "alexnet_small", "googlenet", "inception_network",
    "inception_small", "lenet5", "resnet", "resnet50", "resnet_small", "signal_classifier_1d", "vgg", "vgg16",
    "vgg_small", "volume_classifier_3d",
]  # fmt: skip
