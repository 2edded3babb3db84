"""The Grad-CAM family for convolutional backbones, from the ``grad-cam`` package.

Each method weights the channels of the top convolutional feature map
(:func:`~transferkit.explanation.methods.conv_layer`) for the explained class and upsamples the
result to the input size. Transformers are refused by
:func:`~transferkit.explanation.methods.choose`, which names the methods that apply to them.
"""

from __future__ import annotations

import torch
from torch import nn

from transferkit.explanation.methods import METHODS, Attribution, Method, Settings, conv_layer

#: name -> (grad-cam class, paper)
CAMS = {
    "gradcam": (
        "GradCAM",
        "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks "
        "via Gradient-based Localization, ICCV 2017",
    ),
    "gradcam++": ("GradCAMPlusPlus", "Chattopadhyay et al., Grad-CAM++, WACV 2018"),
    "xgradcam": ("XGradCAM", "Fu et al., Axiom-based Grad-CAM, BMVC 2020"),
    "layercam": ("LayerCAM", "Jiang et al., LayerCAM, IEEE TIP 2021"),
    "hirescam": ("HiResCAM", "Draelos & Carin, Use HiResCAM instead of Grad-CAM, 2020"),
    "eigencam": (
        "EigenCAM",
        "Muhammad & Yeasin, Eigen-CAM, IJCNN 2020 (class-agnostic: the "
        "first principal component of the feature map)",
    ),
}


class CamMethod(Method):
    """A method of the Grad-CAM family (``cam_class`` names the grad-cam class)."""

    needs_conv = True
    cam_class = ""
    requires = "pytorch_grad_cam"

    def attribute(
        self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, settings: Settings
    ) -> Attribution:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        layers = self.__dict__.setdefault("_layers", {})  # one probe per model, not per batch
        if id(model.backbone) not in layers:
            layers[id(model.backbone)] = conv_layer(model.backbone)
        layer = layers[id(model.backbone)]
        cam_type = getattr(pytorch_grad_cam, self.cam_class)
        with cam_type(model=model, target_layers=[layer]) as cam:
            maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
        return Attribution([m.astype("float32") for m in maps])


for _name, (_cls, _paper) in CAMS.items():
    METHODS.register(
        _name,
        type(
            f"{_cls}Method",
            (CamMethod,),
            {
                "cam_class": _cls,
                "label": _name,
                "__module__": __name__,
                "__doc__": f"{_cls} ({_paper}), from grad-cam.",
            },
        ),
    )
