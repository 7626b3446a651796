"""Settings of mesh transfer (no heavy imports: the command line is generated from them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sape_geo.geometry.scan_settings import ScanSettings

INIT_METHODS = ("affine", "biharmonic", "arap")
INITIALISATIONS = ("auto", "biharmonic", "arap")
DEFAULT_INIT = "auto"
ALIGN_WITHOUT_LANDMARKS = ("principal-axes", "bounding-box", "identity")
ALIGNMENTS = ("landmarks", *ALIGN_WITHOUT_LANDMARKS)
PARTIAL_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class TransferSettings:
    """Settings of the neural stage (immutable).

    Attributes
    ----------
    chamfer : ``"surface"``: each sample's exact distance to the other surface (libigl closest points;
        no sampling noise floor, so details finer than the sample spacing still get a gradient);
        ``"points"``: nearest-sample Chamfer between the two sample sets (the paper's form).
    mask_resolution : where SAPE keeps its progress: 0 = one progress per vertex; ``r`` > 0 (default
        16) = a regular ``r^3`` grid over the normalised frame, read by trilinear interpolation, so
        neighbouring vertices always see nearly the same frequencies. Measured on the creature pair
        (300 steps): per vertex, neighbours with different open frequencies get unrelated
        corrections (11 flipped triangles, conformal 0.049); the 16^3 grid gave 1 flip and 0.027.
    conformal_weight : weight of ``E_C / A_source`` against the squared Chamfer (normalised units).
    arap_weight : weight of the as-rigid-as-possible energy ``E_ARAP / A_source`` (per triangle, see
        :func:`~sape_geo.geometry.energies.arap_energy_per_triangle`), beside the conformal term: it also
        charges changes of size, which a pose change keeps and a change of species does not.
    epsilon_fraction : SAPE's threshold ``epsilon`` (a vertex opens the next frequency while its distance to
        the target is at least ``epsilon``) as this share of the median distance of the initialisation's
        vertices to the target; an explicit ``--epsilon`` wins; 0 (default) = the method's ``epsilon`` as
        given (normalised units: the target's box is normalised, so it is already a share of the
        target's size). Measured (docs/method.md, "SAPE's threshold"): 0.25 opened as many levels as
        the fixed 3e-3 on the creature and cat pairs and more on pair 08, 0.5 and above cost Chamfer.
    landmark_weight : weight of the mean squared landmark error (0 = landmarks only initialise).
    feedback : SAPE's per-vertex loss. ``"vertex"``: the vertex's distance to the target; ``"two-sided"``:
        the larger of that and the RMS distance to the deformed surface of the target samples nearest
        to the vertex (:meth:`MeshTransferTask.uncovered_distances`), so target parts nobody reaches
        yet also open frequencies.
    surface_samples : barycentric samples of the deformed surface per step.
    target_batch : target samples per step (drawn from the prepared target samples).
    fold_weight : weight of the fold penalty (docs/method.md, "Folds"): over the interior edges,
        ``mean_e relu(min(c0_e, 0) - c_e)^2`` with ``c_e`` the cosine between the two deformed triangle
        normals and ``c0_e`` the source's, so an edge may open up to 90 degrees (or as far as the
        source's own crease) for free and pays quadratically beyond; scale-free (unit normals).
    inversion_weight : weight of the inversion barrier (docs/method.md, "Folds"): over the triangles,
        ``mean_t relu(0.2 - n_t . R_t n0_t)^2`` with ``n_t`` the deformed unit normal and ``R_t n0_t`` the
        source normal turned by the map's local rotation there (the ``inverted_triangles`` metric's test).
    normal_matching : Chamfer pairs whose normals face away from each other (the deformed triangle's
        normal against the target face's, oriented by their majority) are left out of the loss, so a
        sample is never pulled onto the far side of a thin part. Mesh targets only.
    Defaults chosen by measurement (docs/method.md, "Folds"; ``bench/transfer.py``): with the fold
    penalty at 0.1 no benchmark pair gains a folded edge, where 1.0 cost Chamfer (cat -> dog 0.165 -> 0.382
    % of the diagonal) and 0 left up to +87 folds; normal-aware matching and fold-aware feedback alone
    did not stop folds (cat pose pair +91 and +79), so both stay off. The inversion barrier at 0.01 leaves
    no inverted triangle on the cat pose pair (3 without) at no cost in Chamfer; the conformal weight 1e-3
    is the compromise between triangle shape and Chamfer (docs/method.md, "The transfer loss"). 150 steps
    at lr 3e-3 (the loop's defaults) and the feedback every 8 steps fit the demo pair as well as 400 at
    1e-3 in under half the time (docs/method.md, "Schedule and speed").
    feedback_every : measure each vertex's distance to the target (SAPE's per-vertex loss) every this
        many steps and reuse it in between (an exact closest-point query per vertex each step is a large
        share of a step's time; the mask moves slowly).
    correspondence_every : with the surface Chamfer, keep a step's samples (both sides) and their closest
        triangles (found exactly by libigl) for this many steps; in between, each sample's closest point is
        its closest point on its kept triangle, which
        costs no tree build or search. 1 = exact closest points every step (default: measured at 4, the
        creature pair took 23 % less CPU time for Chamfer 0.090 -> 0.093 and cat -> dog 0.23 -> 0.26, so
        the exact form stays).
    fold_feedback : SAPE's per-vertex loss is zeroed at the corners of triangles whose edge normals
        are more than 90 degrees apart (beyond the source's), so a region that starts to fold opens
        no higher frequencies.
    align : without landmarks, how the source is brought into the target's frame: principal-axes
        (centroids, principal axes and spreads; 4 sign choices tried), bounding-box (axis-aligned boxes),
        identity (already in one frame); ignored when landmarks are given. Near-symmetric shapes,
        different poses or differently oriented inputs can align wrongly: give landmarks when you can.
    init : the initialisation the network starts from: biharmonic (a smooth displacement field that
        puts the landmarks exactly), arap (libigl ARAP with the landmarks as handles, from the biharmonic
        result; large pose changes bend instead of shearing), or auto: arap when the biharmonic field
        inverts triangles and arap inverts fewer.
    scan : how a point-cloud target is reduced before the fit.
    carry : a file (mesh or point set: eyes, teeth, clothes, markers; OBJ, PLY, OFF, XYZ) moved by the
        fitted deformation, keeping its offset to the body in the body's local frame, scaled with it;
        written to RUN/carried/ with its file structure kept. Repeatable. Checked before the fit.
    rigid : an OBJ group or object name of the source (g / o), or a file of 0-based vertex ids: those
        vertices move by one similarity per connected part (an eyeball, a tooth, a button) and keep
        their shape exactly. Repeatable.
    partial : the data term of partial targets (docs/method.md, "Partial targets"): ``"on"``, a sample
        of the deformed surface is pulled towards the target only as much as the target observes its
        triangle (a per-vertex confidence from the density of target points landing there, estimated
        again every 50 steps), while every target point still pulls the surface; the unseen side
        follows the initialisation and the regulariser. ``"off"``: the symmetric Chamfer everywhere.
        ``"auto"`` (default): on when the target is not a closed surface and covers less than 90 % of
        the initialised template.
    """

    conformal_weight: float = 1e-3
    arap_weight: float = 0.0
    epsilon_fraction: float = 0.0
    landmark_weight: float = 1.0
    surface_samples: int = field(default=2000, metadata={"flag": "--samples"})
    target_batch: int = 2000
    mask_resolution: int = field(default=16, metadata={"flag": "--mask-grid", "metavar": "R"})
    chamfer: str = field(default="surface", metadata={"choices": ("surface", "points")})
    feedback: str = field(default="vertex", metadata={"choices": ("vertex", "two-sided")})
    fold_weight: float = 0.1
    inversion_weight: float = 0.01
    normal_matching: bool = False
    fold_feedback: bool = False
    feedback_every: int = 8
    correspondence_every: int = 1
    align: str | None = field(default=None, metadata={"choices": ALIGN_WITHOUT_LANDMARKS})
    init: str = field(default=DEFAULT_INIT, metadata={"choices": INITIALISATIONS})
    scan: ScanSettings = ScanSettings()
    carry: tuple[str, ...] = field(default=(), metadata={"repeat": True, "metavar": "FILE"})
    rigid: tuple[str, ...] = field(default=(), metadata={"repeat": True, "metavar": "GROUP|FILE"})
    partial: str = field(default="auto", metadata={"choices": PARTIAL_MODES})

    def __post_init__(self) -> None:
        if self.feedback not in ("vertex", "two-sided"):
            raise ValueError(f"feedback must be 'vertex' or 'two-sided', got {self.feedback!r}")
        if self.chamfer not in ("surface", "points"):
            raise ValueError(f"chamfer must be 'surface' or 'points', got {self.chamfer!r}")
        if self.mask_resolution < 0:
            raise ValueError("mask_resolution must be 0 (per vertex) or a positive grid resolution")
        if not (self.conformal_weight >= 0 and self.arap_weight >= 0 and self.epsilon_fraction >= 0 and self.landmark_weight >= 0 and self.fold_weight >= 0 and self.inversion_weight >= 0):
            raise ValueError("loss weights must be >= 0")
        if self.surface_samples < 1 or self.target_batch < 1:
            raise ValueError("sample counts must be >= 1")
        if self.align is not None and self.align not in ALIGN_WITHOUT_LANDMARKS:
            raise ValueError(f"align must be one of {', '.join(ALIGN_WITHOUT_LANDMARKS)}, got {self.align!r}")
        if self.partial not in PARTIAL_MODES:
            raise ValueError(f"partial must be one of {', '.join(PARTIAL_MODES)}, got {self.partial!r}")
        if self.init not in INITIALISATIONS:
            raise ValueError(f"init must be one of {', '.join(INITIALISATIONS)}, got {self.init!r}")
