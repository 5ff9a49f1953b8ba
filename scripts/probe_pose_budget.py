"""How much of the face shape benchmark's error is pose? Scores depth maps that know the face's
shape, its pose or both, beside a constant depth, on the benchmark's test faces and with its
metrics, then how well GAN2Shape networks read those faces' pose.

The depth maps:

- the true head turned frontal (the shape known, the pose not read),
- the mean head (every identity parameter at the middle of its range) frontal (neither),
- the mean head in the true pose (the pose read, the shape not),

beside a constant depth (the benchmark's null row); the pose is read as
`engine.evaluation.gan2shape_check` reads it (no refinement).

    python -m scripts.probe_pose_budget [--n 48] [--weights W]
"""

from __future__ import annotations

import dataclasses

import torch

from engine.cli.arguments import at_least, run_script, script_parser
from engine.evaluation.gan2shape_check import check_networks
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.pipeline import load_model
from engine.gan2shape.pretrained_files import load_pretrained
from engine.metrics import mad, side
from engine.render import normals_from_depth
from engine.synth import SEED_RANGES, seed_run
from engine.synth.face import FACE_PARAMETERS, build_face_meshes
from engine.synth.generate import Scene, render_scene, sample_scene

SIZE = 64
"""default-face's frame, the benchmark's image size."""


def mean_identity(count: int) -> torch.Tensor:
    """``[count, P]`` identities at the middle of every face parameter's range."""
    middle = torch.tensor([(low + high) / 2 for low, high in FACE_PARAMETERS.values()])
    return middle.expand(count, -1).clone()


def variant(scene: Scene, *, params: torch.Tensor | None = None, frontal: bool) -> Scene:
    """`scene` with other identities and/or its views' rotations zeroed (shifts kept)."""
    view = scene.view.clone()
    if frontal:
        view[:, :3] = 0
    if params is None:
        return dataclasses.replace(scene, view=view)
    return dataclasses.replace(
        scene, params=params, mesh=build_face_meshes(params, SIZE), view=view
    )


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--n", type=at_least(2), default=48, help="test faces (%(default)s)")
    parser.add_argument(
        "--weights", help="GAN2Shape networks to read the poses (default: default-face's)"
    )
    args = parser.parse_args()
    model = load_model("default-face")
    networks = Gan2ShapeNetworks(model.preset.networks, style_dim=model.generator.style_dim)
    weights = args.weights or model.pretrained
    networks.load_state_dict(load_pretrained(weights, model.preset))

    seeds = seed_run(SEED_RANGES["test"].start, args.n, split="test")
    scene = sample_scene("face", seeds, size=SIZE)
    truth = render_scene(scene)
    true_normal = normals_from_depth(truth.depth)
    mean = mean_identity(args.n)
    rows = {
        "const. null depth": (torch.ones_like(truth.depth), truth.mask),
    }
    for name, changed in (
        ("the true head, frontal", variant(scene, frontal=True)),
        ("the mean head, frontal", variant(scene, params=mean, frontal=True)),
        ("the mean head in the true pose", variant(scene, params=mean, frontal=False)),
    ):
        drawn = render_scene(changed)
        rows[name] = (drawn.depth, truth.mask * drawn.mask)

    print(f"Depth of {args.n} test faces (seeds from {seeds[0]}), benchmark metrics")
    print(f"{'depth map':<34}{'SIDE (x1e-2)':>14}{'MAD (deg)':>11}{'of null':>14}")
    scores = {
        name: (
            100 * side(depth, truth.depth, seen).mean().item(),
            mad(normals_from_depth(depth), true_normal, seen).mean().item(),
        )
        for name, (depth, seen) in rows.items()
    }
    null_side, null_mad = scores["const. null depth"]
    for name, (side_value, mad_value) in scores.items():
        ratios = f"{side_value / null_side:.2f} / {mad_value / null_mad:.2f}"
        print(f"{name:<34}{side_value:>14.3f}{mad_value:>11.2f}{ratios:>14}")
    print()
    print(check_networks(networks, model.preset, "face", n=args.n).table())


if __name__ == "__main__":
    run_script(main)
