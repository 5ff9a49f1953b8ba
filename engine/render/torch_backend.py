"""Pure-PyTorch rasterizer backend: nvdiffrast's rasterize / interpolate / antialias contract on
any device, vectorised, with memory linear in pixels + covered pixel candidates.

Rasterization runs in two passes, like nvdiffrast's forward and gradient kernels:
1. visibility (no autograd): every triangle emits the pixel centres inside its screen bounding
   box as candidates; inside-test and z/w are evaluated per candidate and a per-pixel depth test
   keeps the nearest one with one ``scatter_reduce(amin)`` on a packed (depth, triangle) key;
2. barycentrics (autograd): for the winning triangle of each covered pixel, the perspective-
   correct (u, v) are recomputed from the clip-space positions, so gradients reach ``pos``.
"""

from __future__ import annotations

import torch

_INSIDE_TOLERANCE = 1e-5  # barycentric slack, so pixel centres on shared edges leave no holes
_MAX_SLACK_PIXELS = 0.05  # the slack as a distance, capped for huge triangles (1e-5 of 1e5 px)
_TRIANGLE_BITS = 31  # low bits of the depth-test key hold the triangle index
_EMPTY_KEY = torch.iinfo(torch.int64).max


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """nvdiffrast-style rasterization of clip-space ``pos [B, V, 4]`` → ``rast [B, H, W, 4]``."""
    height, width = resolution
    faces = tri.long().contiguous()  # [F, 3]; a transposed view's strides broke the lookup
    with torch.no_grad():
        winner = _visible_triangles(pos.detach(), faces, height, width)  # [B*H*W]
    return _rasterized_barycentrics(pos, faces, winner, height, width)


def _pixel_space(pos: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clip space ``[..., 4]`` to pixel units ``[..., 2]``: pixel (r, c) is centred at (c, r)."""
    ndc = pos[..., :2] / pos[..., 3:4]
    scale = pos.new_tensor([width / 2, height / 2])
    return (ndc + 1) * scale - 0.5


def _visible_triangles(
    pos: torch.Tensor, faces: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Per pixel ``[B*H*W]`` the index of the nearest covering triangle, or -1."""
    batch, num_vertices = pos.shape[:2]
    num_faces = faces.shape[0]
    screen = _pixel_space(pos, height, width)  # [B, V, 2]
    vertex_table = torch.cat([screen, pos[..., 2:3] / pos[..., 3:4], pos[..., 3:4]], -1)
    corner_index = torch.arange(batch, device=pos.device)[:, None, None] * num_vertices + faces
    corners = vertex_table.view(-1, 4).index_select(0, corner_index.view(-1)).view(-1, 3, 4)
    xy = corners[..., :2]  # [B*F, 3, 2] pixel x, y

    low = torch.minimum(torch.minimum(xy[:, 0], xy[:, 1]), xy[:, 2])  # [B*F, 2]
    high = torch.maximum(torch.maximum(xy[:, 0], xy[:, 1]), xy[:, 2])
    origin = (low - _INSIDE_TOLERANCE).ceil().clamp(min=0)  # first pixel centre of the box
    last = torch.minimum(
        (high + _INSIDE_TOLERANCE).floor(), low.new_tensor([width - 1, height - 1])
    )
    span = (last - origin + 1).clamp(min=0).nan_to_num(0)  # [B*F, 2] columns, rows

    # Only triangles whose box holds a pixel centre go on (in dense meshes most are sub-pixel).
    boxed = (span[:, 0] * span[:, 1] > 0).nonzero().squeeze(1)  # [F'] index into B*F
    corners, origin, span = corners[boxed], origin[boxed], span[boxed]
    c0, c1, c2 = corners.unbind(1)  # [F', 4] each: pixel x, pixel y, z/w, w

    # Barycentrics of corners 0 and 1 and z/w are affine in pixel coordinates: store each as
    # (value at the box origin, d/dcolumn, d/drow) so candidates only add small offsets.
    edge0, edge1 = c2[:, :2] - c1[:, :2], c0[:, :2] - c2[:, :2]  # [F', 2]
    double_area = edge0[:, 0] * edge1[:, 1] - edge0[:, 1] * edge1[:, 0]  # [F']
    keep = (corners[..., 3] > 0).all(1) & (double_area.abs() > 1e-12) & double_area.isfinite()
    inverse_area = 1 / torch.where(keep, double_area, 1)

    def affine(edge: torch.Tensor, start: torch.Tensor) -> list[torch.Tensor]:
        offset = origin - start[:, :2]
        value = (edge[:, 0] * offset[:, 1] - edge[:, 1] * offset[:, 0]) * inverse_area
        return [value, -edge[:, 1] * inverse_area, edge[:, 0] * inverse_area]

    b0, b1 = affine(edge0, c1), affine(edge1, c2)
    dz0, dz1 = c0[:, 2] - c2[:, 2], c1[:, 2] - c2[:, 2]
    z = [c2[:, 2] + b0[0] * dz0 + b1[0] * dz1, b0[1] * dz0 + b1[1] * dz1, b0[2] * dz0 + b1[2] * dz1]
    # Each barycentric's slack, as a distance from its opposite edge, is at most _MAX_SLACK_PIXELS.
    edges = torch.stack([edge0, edge1, c1[:, :2] - c0[:, :2]], 1).norm(dim=2)  # [F', 3]
    slack = (_MAX_SLACK_PIXELS * edges * inverse_area.abs()[:, None]).clamp(max=_INSIDE_TOLERANCE)
    b0[0], b1[0] = b0[0] + slack[:, 0], b1[0] + slack[:, 1]  # inside: >= 0
    most = 1 + slack.sum(1)  # inside: u + v (both with their slack) <= 1 + all three slacks
    planes = torch.stack([*b0, *b1, *z, most], 1)  # [F', 10]

    counts = (span[:, 0] * span[:, 1]).long() * keep  # [F']
    base_pixel = ((boxed // num_faces) * height + origin[:, 1].long()) * width + origin[:, 0].long()
    first = counts.cumsum(0) - counts
    box = torch.stack([base_pixel, span[:, 0].long(), first, boxed % num_faces], 1)  # [F', 4]
    owner = torch.repeat_interleave(torch.arange(counts.numel(), device=pos.device), counts)  # [N]
    if owner.numel() == 0:
        return torch.full((batch * height * width,), -1, dtype=torch.long, device=pos.device)

    plane = planes.index_select(0, owner)  # [N, 10]
    base, columns, first, face = box.index_select(0, owner).unbind(1)  # [N] each
    offset = torch.arange(owner.numel(), device=pos.device) - first
    row, col = offset // columns, offset % columns  # within the box
    row_f, col_f = row.to(pos.dtype), col.to(pos.dtype)
    u = plane[:, 0] + plane[:, 1] * col_f + plane[:, 2] * row_f
    v = plane[:, 3] + plane[:, 4] * col_f + plane[:, 5] * row_f
    depth = plane[:, 6] + plane[:, 7] * col_f + plane[:, 8] * row_f
    inside = (u >= 0) & (v >= 0) & (u + v <= plane[:, 9]) & (depth >= -1) & (depth <= 1)

    depth_bits = ((depth.clamp(-1, 1) + 1) * 0.5).float().view(torch.int32).long()  # monotonic
    key = torch.where(inside, (depth_bits << _TRIANGLE_BITS) | face, _EMPTY_KEY)
    zbuffer = torch.full((batch * height * width,), _EMPTY_KEY, dtype=torch.long, device=pos.device)
    zbuffer.scatter_reduce_(0, base + row * width + col, key, "amin")
    return torch.where(zbuffer != _EMPTY_KEY, zbuffer & ((1 << _TRIANGLE_BITS) - 1), -1)


def _rasterized_barycentrics(
    pos: torch.Tensor, faces: torch.Tensor, winner: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Differentiable (u, v), detached z/w and triangle id + 1 for the covered pixels."""
    batch = pos.shape[0]
    pixel = (winner >= 0).nonzero().squeeze(1)  # [M]
    face = winner[pixel]
    image, rest = pixel // (height * width), pixel % (height * width)
    row, col = rest // width, rest % width
    corners = pos[image[:, None], faces[face]]  # [M, 3, 4]

    # Homogeneous 2D barycentrics (Olano & Greer): the pixel's NDC (px, py) makes
    # a_k = (x_k - px w_k, y_k - py w_k); the perspective-correct barycentrics are
    # proportional to the cross products of the other two corners' a.
    px = (2 * col + 1).to(pos.dtype) / width - 1
    py = (2 * row + 1).to(pos.dtype) / height - 1
    ax = corners[..., 0] - px[:, None] * corners[..., 3]  # [M, 3]
    ay = corners[..., 1] - py[:, None] * corners[..., 3]
    weights = ax.roll(-1, 1) * ay.roll(-2, 1) - ay.roll(-1, 1) * ax.roll(-2, 1)  # [M, 3]
    barycentric = weights / weights.sum(1, keepdim=True)
    with torch.no_grad():
        depth = (barycentric * corners[..., 2]).sum(1) / (barycentric * corners[..., 3]).sum(1)
    values = torch.stack(
        [barycentric[:, 0], barycentric[:, 1], depth, (face + 1).to(pos.dtype)], 1
    )  # [M, 4]
    rast = pos.new_zeros(batch * height * width, 4).index_put((pixel,), values)
    return rast.view(batch, height, width, 4)


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Barycentric interpolation of ``attr [B or 1, V, C]`` over ``rast`` → ``[B, H, W, C]``."""
    batch, height, width, _ = rast.shape
    num_vertices, channels = attr.shape[1:]
    face = rast[..., 3].long() - 1  # [B, H, W]
    corners = tri.long()[face.clamp(min=0)]  # [B, H, W, 3]
    if attr.shape[0] > 1:
        corners = corners + torch.arange(batch, device=rast.device).view(-1, 1, 1, 1) * num_vertices
    values = attr.reshape(-1, channels).index_select(0, corners.view(-1))
    u, v = rast[..., 0], rast[..., 1]
    weights = torch.stack([u, v, 1 - u - v], -1) * (face >= 0)[..., None]  # [B, H, W, 3]
    return (weights[..., None] * values.view(batch, height, width, 3, channels)).sum(-2)


def antialias(
    color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, tri: torch.Tensor
) -> torch.Tensor:
    """nvdiffrast-style analytic antialiasing of silhouette edges, differentiable w.r.t. ``pos``.

    For each pair of horizontal / vertical neighbour pixels showing different triangles, take
    the nearer triangle T (the covered one, if the other is background) and the edge through
    which the segment between the two pixel centres leaves T. If that edge is a silhouette
    (no neighbour triangle, or the neighbour folds back behind it on screen) and crosses the
    segment at fraction t from T's pixel, the pixel on the far side of the crossing takes
    ``|t - 1/2|`` of the other pixel's colour. t depends on vertex positions, which is where
    the edge gradients come from.
    """
    batch, height, width, channels = color.shape
    face = rast[..., 3].long() - 1  # [B, H, W]
    depth = rast[..., 2]
    flat_face, flat_depth = face.flatten(), depth.flatten()
    index = torch.arange(batch * height * width, device=color.device).view(batch, height, width)

    pairs = []
    for axis, (first, second) in enumerate(
        [(index[:, :, :-1], index[:, :, 1:]), (index[:, :-1, :], index[:, 1:, :])]
    ):
        differ = flat_face[first] != flat_face[second]
        pixel0, pixel1 = first[differ], second[differ]  # [P]
        pairs.append((pixel0, pixel1, torch.full_like(pixel0, axis)))
    pixel0, pixel1, axis = (torch.cat(parts) for parts in zip(*pairs, strict=True))
    if pixel0.numel() == 0:
        return color

    face0, face1 = flat_face[pixel0], flat_face[pixel1]
    use1 = (face0 < 0) | ((face1 >= 0) & (flat_depth[pixel1] < flat_depth[pixel0]))
    front = torch.where(use1, face1, face0)  # [P] triangle T
    near_pixel = torch.where(use1, pixel1, pixel0)  # pixel showing T
    far_pixel = torch.where(use1, pixel0, pixel1)
    image = near_pixel // (height * width)

    # Most pairs sit inside a surface; keep those whose T has a silhouette edge at all.
    faces = tri.long()
    screen = _pixel_space(pos, height, width)  # [B, V, 2]
    with torch.no_grad():
        silhouette = _silhouette_edges(screen, faces).view(-1, 3)[image * faces.shape[0] + front]
    keep = silhouette.any(1).nonzero().squeeze(1)
    near_pixel, far_pixel, front, image = (x[keep] for x in (near_pixel, far_pixel, front, image))
    axis, silhouette = axis[keep], silhouette[keep]  # [P], [P, 3]

    def pixel_centre(pixel: torch.Tensor) -> torch.Tensor:
        rest = pixel % (height * width)
        return torch.stack([rest % width, rest // width], 1).to(pos.dtype)  # [P, 2]

    corners = screen[image[:, None], faces[front]]  # [P, 3, 2]
    start = corners.roll(-1, 1)  # [P, 3, 2] edge k runs from corner k+1 to corner k+2
    edge = corners.roll(-2, 1) - start
    orientation = _cross(edge[:, 0], corners[:, 0] - start[:, 0]).sign()[:, None]  # [P, 1]
    near_centre = pixel_centre(near_pixel)[:, None]  # [P, 1, 2]
    far_centre = pixel_centre(far_pixel)[:, None]
    inside_near = _cross(edge, near_centre - start) * orientation  # [P, 3]
    inside_far = _cross(edge, far_centre - start) * orientation
    exits = (inside_far < 0) & (inside_near >= 0)
    crossing = inside_near / torch.where(exits, inside_near - inside_far, 1)  # [P, 3]
    crossing_or_inf = torch.where(exits, crossing.detach(), torch.inf)
    exit_edge = crossing_or_inf.argmin(1, keepdim=True)  # [P, 1]
    t = crossing.gather(1, exit_edge).squeeze(1).clamp(0, 1)  # [P]
    edge_dir = edge.gather(1, exit_edge[..., None].expand(-1, 1, 2)).squeeze(1).abs()  # [P, 2]
    across = torch.where(
        axis == 0, edge_dir[:, 1] >= edge_dir[:, 0], edge_dir[:, 0] >= edge_dir[:, 1]
    )
    valid = exits.any(1) & silhouette.gather(1, exit_edge).squeeze(1) & across
    near_pixel, far_pixel, t = near_pixel[valid], far_pixel[valid], t[valid]

    flat_color = color.reshape(-1, channels)
    difference = flat_color[far_pixel] - flat_color[near_pixel]  # [Q, C]
    # The edge's side of the midpoint picks the one pixel that blends (alpha > 0: T's pixel).
    alpha = 0.5 - t
    near_blend = torch.where(alpha > 0, alpha, 0)[:, None] * difference
    far_blend = torch.where(alpha > 0, 0, alpha)[:, None] * difference
    out = flat_color.index_add(0, near_pixel, near_blend).index_add(0, far_pixel, far_blend)
    return out.view(batch, height, width, channels)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z of the 2D cross product of ``[..., 2]`` vectors."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _silhouette_edges(screen: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Which edges ``[B, F, 3]`` (edge k opposite corner k) are silhouettes on screen.

    An edge is a silhouette when the wing triangle (corner k replaced by the far corner of the
    triangle across the edge) keeps the triangle's orientation, i.e. the neighbour folds over
    to the same side on screen; boundary edges always are.
    """
    corners = screen[:, faces]  # [B, F, 3, 2]
    wings = screen[:, _opposite_corners(faces)]  # [B, F, 3, 2]
    start = corners.roll(-1, 2)
    edge = corners.roll(-2, 2) - start
    orientation = _cross(edge[:, :, 0], corners[:, :, 0] - start[:, :, 0])  # [B, F]
    return _cross(edge, wings - start) * orientation[..., None] > 0


def _opposite_corners(faces: torch.Tensor) -> torch.Tensor:
    """For each triangle edge k (opposite corner k), the far corner of the triangle across it.

    ``[F, 3]`` vertex indices; a boundary edge gets the triangle's own corner k, which the
    silhouette test then always accepts (nvdiffrast does the same).
    """
    num_faces, num_vertices = faces.shape[0], int(faces.max()) + 1
    start, end = faces.roll(-1, 1), faces.roll(-2, 1)  # [F, 3]
    key = (torch.minimum(start, end) * num_vertices + torch.maximum(start, end)).flatten()
    order = key.argsort()
    sorted_key = key[order]
    opposite = faces.flatten()[order]  # [3F] corner opposite each sorted edge
    same_next = torch.zeros_like(sorted_key, dtype=torch.bool)
    same_next[:-1] = sorted_key[:-1] == sorted_key[1:]
    same_prev = torch.zeros_like(same_next)
    same_prev[1:] = same_next[:-1]
    wing = opposite.clone()
    wing[same_next] = opposite.roll(-1)[same_next]
    only_prev = same_prev & ~same_next
    wing[only_prev] = opposite.roll(1)[only_prev]
    result = torch.empty_like(wing)
    result[order] = wing
    return result.view(num_faces, 3)
