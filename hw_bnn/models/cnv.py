"""BNN-PYNQ-CNV-style binary conv net, sized for small (e.g. 28x28) inputs."""

from __future__ import annotations

from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods import Method, get_method
from hw_bnn.methods.losses import latent_weights


class BinaryCNV(nn.Module):
    """3x3 convs (no padding) in pairs, each pair followed by 2x2 max-pool, then FC layers.

    As in BNN-PYNQ CNV, the first conv takes the 8-bit integer pixels (0..255) unchanged
    and multiplies them by bipolar weights; every later layer is fully binary. Each conv
    and hidden FC is followed by BatchNorm and sign; the max-pool acts on the signs, which
    FINN maps to a streaming max-pool of bits. There is no padding, so no zero ever has to
    be represented in one bit. The last FC has bipolar weights and integer outputs.

    Args:
        input_shape: (C, H, W) of the images.
        num_classes: number of outputs.
        channels: output channels of each conv; a 2x2 max-pool follows every
            ``pool_every``-th conv.
        fc: widths of the hidden fully connected layers.
        method: BNN method name or object providing the quantizers.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        channels: tuple[int, ...] = (16, 16, 32, 32),
        fc: tuple[int, ...] = (128,),
        pool_every: int = 2,
        method: str | Method = "baseline",
    ):
        super().__init__()
        method = get_method(method)
        in_channels, height, width = input_shape
        layers: list[nn.Module] = []
        for index, out_channels in enumerate(channels):
            layers += [
                method.conv2d(in_channels, out_channels, 3),
                nn.BatchNorm2d(out_channels),
                method.activation(out_channels),
            ]
            height, width = height - 2, width - 2
            if (index + 1) % pool_every == 0:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            if height < 1 or width < 1:
                raise HwBnnError(
                    f"cnv: input {input_shape} is too small for {len(channels)} unpadded 3x3 convs "
                    f"(feature map vanishes after conv {index}); use fewer 'channels' or larger images"
                )
            in_channels = out_channels
        layers.append(nn.Flatten())
        features = in_channels * height * width
        for out_features in fc:
            layers += [
                method.linear(features, out_features),
                nn.BatchNorm1d(out_features),
                method.activation(out_features),
            ]
            features = out_features
        layers.append(method.linear(features, num_classes))
        self.features = nn.Sequential(*layers)
        for _, weight in latent_weights(self):
            nn.init.uniform_(weight, -1.0, 1.0)

    def forward(self, x):
        return self.features(x)
