"""CCNet's named variant: the authors' Cityscapes model, a semantic segmenter (`ZooCCNetForSemanticSegmentation`,
`hf_vits.create_model` builds it with Cityscapes' 19 classes).

Its figures are not ImageNet's: the parameters are counted on the authors' code (`networks/ccnet.py`, ResNet-101
with the deep stem and the RCCA head, 19 classes, the auxiliary head included); 769 px is the side of the training
crops. The paper reports no ImageNet accuracy and no FLOPs for the whole model, so those columns are empty; its
Cityscapes result for this model is 79.74% mIoU on the validation set and 79.01% on the test set with R = 2 and
single-scale testing (the authors' README, for their released checkpoint)."""

# The evaluation transform of `ZooCCNetForImageClassification`, which starts from torchvision's or timm's ImageNet
# ResNets: the shorter side to 256 (bilinear), the 224x224 centre, ImageNet's mean and std on 0..1 pixels.
IMAGENET_PROCESSOR = {
    "do_resize": True,
    "size": {"shortest_edge": 256},
    "do_center_crop": True,
    "crop_size": {"height": 224, "width": 224},
    "do_rescale": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}

CITYSCAPES_LABELS = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)

VARIANTS = {
    "ccnet-resnet101": {
        "task": "semantic-segmentation",
        "config": {
            "stem_type": "deep",
            "depths": [3, 4, 23, 3],
            "dilations": [1, 1, 2, 4],
            "recurrence": 2,
            "image_size": 769,
            "id2label": dict(enumerate(CITYSCAPES_LABELS)),
        },
        # The whole image, unresized (the processor's default); `size` is the crop side the model was trained at,
        # which `create_image_processor(..., image_size=...)` scales.
        "processor": {"size": {"height": 769, "width": 769}},
        "paper": {
            "params_m": 71.29,
            "gflops": None,
            "top1": None,
            "resolution": 769,
            "source": "Huang et al. 2019, the authors' code (networks/ccnet.py), Cityscapes, 19 classes",
        },
    },
}
