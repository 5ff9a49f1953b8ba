"""Milliseconds per orbit-view frame of the 3D viewer: `engine.render` (TorchViewer) against
Open3D's offscreen renderer in its child process (Open3DViewer), on a 64×64 depth-map mesh.

    python -m bench.viewer [--frames 10] [--size 256]

Also prints whether Open3D renders on a software device here, which is what `--viewer auto`
decides by. The first Open3D frame (child start, graphics driver) is timed on its own.
"""

from __future__ import annotations

import time

import torch

from app.viewer import Open3DViewer, TorchViewer, probe_open3d_offscreen
from bench.app import report, time_frames
from engine.cli.arguments import at_least, run_script, script_parser
from engine.mesh import TexturedMesh, depth_to_mesh

DEPTH_SIDE = 64


def dome_mesh() -> TexturedMesh:
    """A smooth dome over a 64×64 depth map, coloured by a gradient: 4,096 vertices."""
    rows, cols = torch.meshgrid(
        torch.linspace(-1, 1, DEPTH_SIDE), torch.linspace(-1, 1, DEPTH_SIDE), indexing="ij"
    )
    depth = 1.0 - 0.05 * (1 - rows.square() - cols.square()).clamp(min=0).sqrt()  # [S, S]
    texture = torch.stack([rows, cols, rows * cols])  # [3, S, S] in [-1, 1]
    return depth_to_mesh(depth, texture)


def main() -> None:
    """Time both viewers and print the figures."""
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--frames", type=at_least(2), default=10, help="frames timed per viewer (%(default)s)"
    )
    parser.add_argument(
        "--size",
        type=at_least(16),
        default=256,
        help="orbit picture side, at least 16 (the app's: %(default)s)",
    )
    args = parser.parse_args()
    mesh = dome_mesh()

    def frames(viewer: TorchViewer | Open3DViewer):
        return lambda index: viewer.render(
            mesh, azimuth=index * 15.0, elevation=15.0, distance=2.2, size=args.size
        )

    print(f"mesh {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles, {args.size} px")
    torch_median = report("engine.render", time_frames(frames(TorchViewer()), args.frames))
    probe = probe_open3d_offscreen()
    if not probe.works:
        print("Open3D offscreen rendering is unavailable here")
        return
    print(f"Open3D device: {'software' if probe.software else 'graphics'}")
    open3d = Open3DViewer()
    try:
        start = time.perf_counter()
        open3d.render(mesh, azimuth=0.0, elevation=15.0, distance=2.2, size=args.size)
        print(f"Open3D first frame (child start)   {(time.perf_counter() - start) * 1e3:7.0f} ms")
        open3d_median = report("Open3D offscreen", time_frames(frames(open3d), args.frames))
    finally:
        open3d.close()
    print(f"Open3D / engine.render: {open3d_median / torch_median:.1f}x")


if __name__ == "__main__":
    run_script(main)
