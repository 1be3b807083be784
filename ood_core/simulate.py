"""The offline default benchmark: a simulated vision-language embedding space on the real WordNet 3.0
hierarchy, with ground-truth false negatives.

Numbers computed in this world are SIMULATED; they are not a reproduction of any paper. The model,
its parameters and its calibration are documented in ``docs/simulation.md``.

The world in one paragraph. Every noun synset ``s`` has a unit concept vector
``v(s) = normalise(rho * mean(v(parents)) + sqrt(1 - rho^2) * r_s)`` (parents = ``@`` and ``@i``
hypernyms; roots use ``r_s``); every adjective head has ``v = r_s`` and every satellite mixes its
head(s) the same way. ``r_s`` is a unit Gaussian vector drawn from a generator seeded by
``(seed, pos, offset)``, so a synset's vector never depends on iteration order. A prompt's text
feature is ``norm * normalise(v + text_offset * g_text + text_noise * eps / sqrt(dim))`` with ``eps``
and the raw ``norm`` seeded by the prompt string (SHA-256), and an image of concept ``v`` is
``image_norm * normalise(v + image_offset * g_image + image_noise * eps / sqrt(dim))``. The modality
directions ``g_text``, ``g_image`` share a common unit direction with weight ``modality_shared``.

ID classes are ImageNet-1k (wnids = data.noun offsets, names from open_clip). OOD sets (all disjoint
from the ID closure = ID synsets, their ancestors and their descendants; picked with a seeded
generator from offset-sorted pools):

- ``sim-inaturalist``: ``n_inaturalist`` leaf ``noun.plant`` synsets (no hyponyms) under
  ``plant, flora`` (00017222): plant species, not plant parts or genera.
- ``sim-sun``: ``n_sun`` non-instance synsets under ``geological_formation`` (09287968) or
  ``geographical_area`` (08574314): natural landforms and regions.
- ``sim-places``: ``n_places`` non-instance synsets under ``structure`` (04341686): man-made
  buildings, rooms and constructions; disjoint from the sim-sun pool.
- ``sim-textures``: the DTD category words that ``index.adj`` lists as adjectives (36 of 47), each
  with its most frequent adjective sense.

Two worlds (``world``): ``"a_priori"`` draws every OOD image like an ID image (concept ``v(s)``, the
global ``image_noise``); ``"fitted"`` gives each OOD set three parameters (``ood_sets``, fitted by
``python -m ood_study.calibrate`` to MCM's and NegLabel's published per-set results): an image of
synset ``s`` has the image concept ``u(s) = normalise(v(s) + id_proximity * v(n(s)) + unnamed * r_s)``
(``n(s)``: the ID class with the closest concept; ``r_s``: a seeded unit direction no corpus word is
built from) and its set's own ``image_noise``. Text features are the same in both worlds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ood_core.features import Label
from ood_core.text import corpus as _corpus
from ood_core.text import prompts as _prompts
from ood_core.text import wordnet as _wn

__all__ = ["OOD_SETS", "DTD_CATEGORIES", "WORLDS", "OOD_SET_PARAMS", "SimulationConfig", "SimulatedWorld",
           "build_world", "ood_set_defaults"]

OOD_SETS = ("sim-inaturalist", "sim-sun", "sim-places", "sim-textures")
ID_SET = "sim-imagenet1k"
ID_SPLIT = "id"  # short name of ID_SET, accepted by image_features / image_labels

# The 47 categories of the Describable Textures Dataset (Cimpoi et al., 2014).
DTD_CATEGORIES = (
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
    "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
    "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled",
    "matted", "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted", "porous",
    "potholed", "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped",
    "studded", "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
)

# sim-inaturalist draws leaf organisms under plant/flora (00017222): not plant parts ("epicarp")
# nor genera ("genus ceratozamia"), which noun.plant also holds.
_INATURALIST_ROOTS = (17222,)
# Roots of the scene pools (data.noun offsets), see the module docstring.
_SUN_ROOTS = (9287968, 8574314)  # geological_formation, geographical_area
_PLACES_ROOTS = (4341686,)  # structure, construction

# Stream tags for the seeded generators: each kind of random draw has its own stream.
_TAG_NOUN, _TAG_ADJ, _TAG_IMAGE, _TAG_TEXT, _TAG_MODALITY, _TAG_PICK, _TAG_UNNAMED = 1, 2, 3, 4, 5, 6, 7

WORLDS = ("fitted", "a_priori")
# Per-OOD-set parameters of the fitted world: name -> (low, high) range (docs/simulation.md, protocol).
# image_noise's default is the global image_noise; the others default to 0 (the a-priori world).
OOD_SET_PARAMS = {"id_proximity": (0.0, 2.0), "unnamed": (0.0, 2.0), "image_noise": (1.0, 6.0)}


def ood_set_defaults(image_noise: float) -> dict[str, float]:
    """The per-set parameters that reproduce the a-priori world (``image_noise``: the global one)."""
    return {"id_proximity": 0.0, "unnamed": 0.0, "image_noise": float(image_noise)}
_POS_CODE = {"n": 0, "a": 1}
# Text norms are drawn as mean + std * clip(z, -4, 4); validation keeps them above this floor so
# the reference density metric's log(||t_i|| + ||t_j|| - 2 cos) is always defined.
_MIN_TEXT_NORM = 2.0
_NORM_Z_CLIP = 4.0


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of the simulated world; ``docs/simulation.md`` explains each and its calibration.

    dim : embedding dimension (CLIP ViT-B/16: 512).
    rho : weight of the parents' mean in a synset's concept vector (hierarchy strength), in [0, 1).
    modality_shared : weight of the direction shared by the text and image offsets, in [0, 1].
    text_offset, image_offset : lengths of the modality offsets added to the unit concept (>= 0).
    text_noise, image_noise : lengths (in expectation) of the per-prompt / per-image noise (>= 0).
    text_norm_mean, text_norm_std : raw text-feature norm ~ mean + std * clip(N(0,1), -4, 4);
        mean - 4 std must exceed 2.
    image_norm_mean, image_norm_std : the same for image features (no score depends on it).
    csp_suffix_weight : weight of the suffix noun in a CSP phrase's concept, in [0, 1].
    images_per_id_class, images_per_ood_class : images per ID class / per OOD synset (>= 1).
    n_inaturalist, n_sun, n_places : OOD classes per set (>= 1; at most the pool size).
    seed : seeds every random draw (>= 0).
    world : ``"a_priori"`` (OOD images drawn like ID images) or ``"fitted"`` (each OOD set's images
        follow its block in ``ood_sets``).
    ood_sets : OOD set -> ``{"id_proximity", "unnamed", "image_noise"}`` (ranges: ``OOD_SET_PARAMS``);
        read only when ``world == "fitted"``, which needs a complete block for every set.
    """

    dim: int = 512
    rho: float = 0.9
    modality_shared: float = 0.75
    text_offset: float = 1.2
    image_offset: float = 1.6
    text_noise: float = 0.5
    image_noise: float = 3.5
    text_norm_mean: float = 9.0
    text_norm_std: float = 1.0
    image_norm_mean: float = 10.0
    image_norm_std: float = 0.5
    csp_suffix_weight: float = 0.5
    images_per_id_class: int = 5
    images_per_ood_class: int = 20
    n_inaturalist: int = 110
    n_sun: int = 50
    n_places: int = 50
    seed: int = 0
    world: str = "a_priori"
    ood_sets: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, rule: str) -> None:
            if not ok:
                raise ValueError(f"SimulationConfig.{name}={getattr(self, name)!r} is invalid: {rule}")

        for name in ("dim", "images_per_id_class", "images_per_ood_class", "n_inaturalist", "n_sun",
                     "n_places", "seed"):
            value = getattr(self, name)
            check(name, isinstance(value, (int, np.integer)) and not isinstance(value, bool),
                  "must be an integer")
        for name in ("rho", "modality_shared", "text_offset", "image_offset", "text_noise", "image_noise",
                     "text_norm_mean", "text_norm_std", "image_norm_mean", "image_norm_std",
                     "csp_suffix_weight"):
            value = getattr(self, name)
            check(name, isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
                  and np.isfinite(value), "must be a finite number")
        check("dim", self.dim >= 2, "must be >= 2")
        check("rho", 0.0 <= self.rho < 1.0, "must be in [0, 1)")
        check("modality_shared", 0.0 <= self.modality_shared <= 1.0, "must be in [0, 1]")
        check("csp_suffix_weight", 0.0 <= self.csp_suffix_weight <= 1.0, "must be in [0, 1]")
        for name in ("text_offset", "image_offset", "text_noise", "image_noise", "text_norm_std",
                     "image_norm_std"):
            check(name, getattr(self, name) >= 0.0, "must be >= 0")
        check("text_norm_mean", self.text_norm_mean - _NORM_Z_CLIP * self.text_norm_std > _MIN_TEXT_NORM,
              f"text_norm_mean - {_NORM_Z_CLIP:g} * text_norm_std must exceed {_MIN_TEXT_NORM:g} "
              f"(got text_norm_std={self.text_norm_std!r})")
        check("image_norm_mean", self.image_norm_mean - _NORM_Z_CLIP * self.image_norm_std > 0.0,
              f"image_norm_mean - {_NORM_Z_CLIP:g} * image_norm_std must be > 0")
        for name in ("images_per_id_class", "images_per_ood_class", "n_inaturalist", "n_sun", "n_places"):
            check(name, getattr(self, name) >= 1, "must be >= 1")
        check("seed", self.seed >= 0, "must be >= 0")
        check("world", self.world in WORLDS, f"must be one of {list(WORLDS)}")
        check("ood_sets", isinstance(self.ood_sets, Mapping), "must be a mapping: OOD set -> its parameters")
        blocks = {}
        for name, block in self.ood_sets.items():
            check("ood_sets", name in OOD_SETS, f"{name!r} is not an OOD set; valid: {list(OOD_SETS)}")
            check("ood_sets", isinstance(block, Mapping), f"{name}: must be a mapping of {list(OOD_SET_PARAMS)}")
            unknown = sorted(set(block) - set(OOD_SET_PARAMS))
            check("ood_sets", not unknown, f"{name}: unknown key(s) {unknown}; valid: {list(OOD_SET_PARAMS)}")
            for key, value in block.items():
                low, high = OOD_SET_PARAMS[key]
                check("ood_sets", isinstance(value, (int, float, np.floating, np.integer))
                      and not isinstance(value, bool) and low <= float(value) <= high,
                      f"{name}.{key}={value!r} must be a number in [{low:g}, {high:g}]")
            blocks[name] = {k: float(block[k]) for k in OOD_SET_PARAMS if k in block}
        if self.world == "fitted":
            incomplete = [n for n in OOD_SETS if set(blocks.get(n, {})) != set(OOD_SET_PARAMS)]
            check("ood_sets", not incomplete,
                  f"world 'fitted' needs {list(OOD_SET_PARAMS)} for every OOD set; incomplete: {incomplete} "
                  "(run `python -m ood_study.calibrate`, or set world: a_priori)")
        object.__setattr__(self, "ood_sets", blocks)

    def ood_set_params(self, name: str) -> dict[str, float]:
        """The image parameters of OOD set ``name`` in this config's world (a-priori: the defaults)."""
        if self.world == "fitted":
            return dict(self.ood_sets[name])
        return ood_set_defaults(self.image_noise)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "SimulationConfig":
        """Config from a mapping (e.g. ``params.yaml``'s ``simulation:``); missing keys keep their defaults."""
        d = dict(d or {})
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"SimulationConfig: unknown key(s) {unknown}; valid keys: {valid}")
        return cls(**d)


# --- seeded random draws ----------------------------------------------------------------------------

def _rng(*key: int) -> np.random.Generator:
    # SeedSequence over an integer tuple: the same key gives the same stream on every platform.
    return np.random.default_rng([int(k) for k in key])


def _string_key(text: str) -> list[int]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    # Explicit sum of squares (not np.linalg.norm / BLAS) to keep results identical across machines.
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))


def _unit_noise(tag: int, seed: int, offsets: np.ndarray, dim: int) -> np.ndarray:
    out = np.empty((len(offsets), dim), dtype=np.float64)
    for row, offset in enumerate(offsets):
        out[row] = _rng(seed, tag, int(offset)).standard_normal(dim)
    return _normalise_rows(out)


# --- concept vectors --------------------------------------------------------------------------------

def _mix_down(index: dict[int, int], parents: list[tuple[int, ...]], noise: np.ndarray, rho: float,
              order: list[int]) -> np.ndarray:
    """v_i = normalise(rho * mean(v_parents) + sqrt(1 - rho^2) * noise_i), parents before children.

    ``order`` lists row indices grouped by level (a row's parents all sit in earlier levels); each
    level is one vectorised step.
    """
    n, dim = noise.shape
    level = np.zeros(n, dtype=np.int64)
    for i in order:
        if parents[i]:
            level[i] = 1 + max(level[index[p]] for p in parents[i])
    vectors = np.empty_like(noise)
    own = np.sqrt(1.0 - rho * rho)
    for lv in range(int(level.max()) + 1 if n else 0):
        rows = np.flatnonzero(level == lv)
        if lv == 0:
            vectors[rows] = noise[rows]
            continue
        counts = np.array([len(parents[i]) for i in rows])
        parent_sum = np.zeros((len(rows), dim))
        for k in range(int(counts.max())):
            has = counts > k
            parent_sum[has] += vectors[[index[parents[i][k]] for i in rows[has]]]
        vectors[rows] = _normalise_rows(rho * parent_sum / counts[:, None] + own * noise[rows])
    return vectors


def _topological_order(index: dict[int, int], parents: list[tuple[int, ...]]) -> list[int]:
    n = len(parents)
    pending = np.array([len(p) for p in parents])
    children: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(parents):
        for p in ps:
            children[index[p]].append(i)
    queue = [i for i in range(n) if pending[i] == 0]
    order = []
    while queue:
        i = queue.pop()
        order.append(i)
        for c in children[i]:
            pending[c] -= 1
            if pending[c] == 0:
                queue.append(c)
    if len(order) != n:
        raise RuntimeError("the hypernym graph has a cycle; is this WordNet 3.0?")
    return order


@functools.lru_cache(maxsize=2)
def _concepts(wordnet_dir: str, dim: int, rho: float, seed: int):
    """(noun_index, noun_vectors, adj_index, adj_vectors): offset -> row, [n, dim] float32 unit rows."""
    nouns = _wn.read_synsets("n", wordnet_dir)
    adjs = _wn.read_synsets("a", wordnet_dir)
    out = []
    for synsets, tag, get_parents in (
        (nouns, _TAG_NOUN, lambda s: s.hypernyms),
        # a satellite's parents are its head adjective(s); heads (pos "a") are roots
        (adjs, _TAG_ADJ, lambda s: s.similar_to if s.pos == "s" else ()),
    ):
        offsets = np.fromiter(synsets.keys(), dtype=np.int64, count=len(synsets))
        index = {int(o): i for i, o in enumerate(offsets)}
        parents = [tuple(get_parents(s)) for s in synsets.values()]
        noise = _unit_noise(tag, seed, offsets, dim)
        vectors = _mix_down(index, parents, noise, rho, _topological_order(index, parents))
        out += [index, vectors.astype(np.float32)]
    return tuple(out)


# --- the world --------------------------------------------------------------------------------------

class SimulatedWorld:
    """A simulated CLIP-like world (see the module docstring). Build it with ``build_world``.

    Attributes: ``config``, ``id_wnids`` / ``id_classnames`` (1000, class-index order),
    ``ood_synsets`` (set name -> list of ``(pos_file, offset, word)``, ``pos_file`` ``"n"`` or ``"a"``).
    Every feature method returns RAW (un-normalised) float32 features, rows in a documented order.
    """

    OOD_SETS = OOD_SETS

    def __init__(self, config: SimulationConfig, wordnet_dir: str):
        from ood_core.text.imagenet import imagenet_classnames, imagenet_wnids, wnid_to_offset

        self.config = config
        self.wordnet_dir = wordnet_dir
        self.id_wnids = list(imagenet_wnids())
        self.id_classnames = list(imagenet_classnames())
        self.id_offsets = np.array([wnid_to_offset(w) for w in self.id_wnids], dtype=np.int64)
        (self._noun_index, self._noun_vec, self._adj_index, self._adj_vec) = _concepts(
            wordnet_dir, config.dim, float(config.rho), config.seed)
        self._nouns = _wn.read_synsets("n", wordnet_dir)
        self._adjs = _wn.read_synsets("a", wordnet_dir)
        missing = [w for w, o in zip(self.id_wnids, self.id_offsets) if int(o) not in self._nouns]
        if missing:
            raise ValueError(f"ImageNet wnids {missing[:5]} are not WordNet 3.0 noun synsets in {wordnet_dir}")

        rng = _rng(config.seed, _TAG_MODALITY)
        shared, g_text, g_image = _normalise_rows(rng.standard_normal((3, config.dim)))
        a = config.modality_shared
        b = np.sqrt(1.0 - a * a)
        self._g_text = a * shared + b * g_text
        self._g_image = a * shared + b * g_image

        ids = {int(o) for o in self.id_offsets}
        self._id_descendants = ids | _wn.hyponym_closure(self._nouns, ids)
        self._id_closure = self._id_descendants | _wn.hypernym_closure(self._nouns, ids)
        self.ood_synsets = self._pick_ood_sets()

    # --- OOD sets ---------------------------------------------------------------------------------
    def _pick(self, name: str, pool: list[int], n: int) -> list[int]:
        pool = sorted(pool)
        if n > len(pool):
            raise ValueError(f"{name}: asked for {n} synsets but its pool holds only {len(pool)}")
        rng = _rng(self.config.seed, _TAG_PICK, OOD_SETS.index(name))
        return sorted(int(o) for o in rng.choice(np.array(pool, dtype=np.int64), size=n, replace=False))

    def _scene_pool(self, roots: tuple[int, ...]) -> set[int]:
        below = _wn.hyponym_closure(self._nouns, roots)
        return {o for o in below if not self._nouns[o].is_instance and o not in self._id_closure}

    def _pick_ood_sets(self) -> dict[str, list[tuple[str, int, str]]]:
        cfg = self.config
        nouns = self._nouns
        under_plant = _wn.hyponym_closure(nouns, _INATURALIST_ROOTS)
        plants = [o for o in under_plant if nouns[o].lexname == "noun.plant" and not nouns[o].hyponyms
                  and o not in self._id_closure]
        sun_pool = self._scene_pool(_SUN_ROOTS)
        places_pool = self._scene_pool(_PLACES_ROOTS) - sun_pool
        picked = {
            "sim-inaturalist": self._pick("sim-inaturalist", plants, cfg.n_inaturalist),
            "sim-sun": self._pick("sim-sun", list(sun_pool), cfg.n_sun),
            "sim-places": self._pick("sim-places", list(places_pool), cfg.n_places),
        }
        sets = {name: [("n", o, _wn.clean_lemma(nouns[o].lemmas[0])) for o in offs]
                for name, offs in picked.items()}
        adj_index = _wn.read_index("a", self.wordnet_dir)
        sets["sim-textures"] = [("a", adj_index[w][0], w) for w in DTD_CATEGORIES if w in adj_index]
        return sets

    # --- text -------------------------------------------------------------------------------------
    def _concept(self, pos_file: str, offsets) -> np.ndarray:
        index, vectors = ((self._noun_index, self._noun_vec) if pos_file == "n"
                          else (self._adj_index, self._adj_vec))
        return vectors[[index[int(o)] for o in offsets]].astype(np.float64)

    def _text(self, concepts: np.ndarray, texts: list[str]) -> np.ndarray:
        """Raw text features [n, dim] float64 of prompt strings with the given unit concepts."""
        cfg = self.config
        noise = np.empty((len(texts), cfg.dim))
        z = np.empty(len(texts))
        for row, text in enumerate(texts):
            rng = _rng(cfg.seed, _TAG_TEXT, *_string_key(text))
            noise[row] = rng.standard_normal(cfg.dim)
            z[row] = rng.standard_normal()
        direction = _normalise_rows(concepts + cfg.text_offset * self._g_text
                                    + cfg.text_noise * noise / np.sqrt(cfg.dim))
        norms = cfg.text_norm_mean + cfg.text_norm_std * np.clip(z, -_NORM_Z_CLIP, _NORM_Z_CLIP)
        return direction * norms[:, None]

    def id_labels(self) -> list[Label]:
        """The 1,000 ID classes as labels (open_clip class name + synset), class-index order."""
        return [Label(name, "n", int(o)) for name, o in zip(self.id_classnames, self.id_offsets)]

    def _label_concepts(self, labels: Sequence[Label]) -> np.ndarray:
        """Unit concepts [n, dim]: the label's synset; a CSP phrase mixes in its suffix noun."""
        concepts = np.empty((len(labels), self.config.dim))
        for pos_file in ("n", "a"):
            rows = [i for i, lb in enumerate(labels) if lb.pos == pos_file]
            if rows:
                self._check_offsets(pos_file, [labels[i] for i in rows])
                concepts[rows] = self._concept(pos_file, [labels[i].offset for i in rows])
        phrases = [i for i, lb in enumerate(labels) if lb.suffix is not None]
        if phrases:
            suffix_offsets = self.csp_suffix_offsets()
            unknown = sorted({labels[i].suffix for i in phrases} - set(suffix_offsets))
            if unknown:
                raise ValueError(f"CSP suffixes {unknown} are not CSP_SUFFIXES {sorted(suffix_offsets)}")
            w = self.config.csp_suffix_weight
            suffix = self._concept("n", [suffix_offsets[labels[i].suffix] for i in phrases])
            concepts[phrases] = _normalise_rows((1.0 - w) * concepts[phrases] + w * suffix)
        return concepts

    def _check_offsets(self, pos_file: str, labels: Sequence[Label]) -> None:
        synsets = self._nouns if pos_file == "n" else self._adjs
        for lb in labels:
            if int(lb.offset) not in synsets:
                raise ValueError(f"label {lb.text!r}: offset {lb.offset} is not a synset of "
                                 f"data.{'noun' if pos_file == 'n' else 'adj'} in {self.wordnet_dir}; the "
                                 "simulated world encodes only WordNet 3.0 synsets")

    def encode_labels(self, labels: Sequence[Label], template: str) -> np.ndarray:
        """[len(labels), dim] float32 raw features of ``template.format(label.text)``.

        A label's concept is its synset's (``pos``, ``offset``); a CSP phrase (``suffix`` set)
        has ``normalise((1 - w) v(adjective) + w v(suffix noun))`` with ``w = csp_suffix_weight``.
        Each prompt string seeds its own noise, so a feature does not depend on the batch.
        """
        texts = _prompts.prompts([lb.text for lb in labels], template)
        return self._text(self._label_concepts(labels), texts).astype(np.float32)

    def csp_suffix_offsets(self) -> dict[str, int]:
        """CSP suffix word -> its most frequent noun sense (data.noun offset) from ``index.noun``."""
        index = _wn.read_index("n", self.wordnet_dir)
        return {w: index[w][0] for w in _prompts.CSP_SUFFIXES}

    # --- images -----------------------------------------------------------------------------------
    def _split_classes(self, split: str) -> tuple[list[tuple[str, int]], int]:
        if split in (ID_SPLIT, ID_SET):
            return [("n", int(o)) for o in self.id_offsets], self.config.images_per_id_class
        if split in self.ood_synsets:
            return [(p, o) for p, o, _ in self.ood_synsets[split]], self.config.images_per_ood_class
        raise ValueError(f"split={split!r} is unknown; valid: {[ID_SET, *OOD_SETS]}")

    def image_labels(self, split: str) -> np.ndarray:
        """[n] int64 class index of each image of ``split`` (ID: ImageNet class index; OOD: index into
        ``ood_synsets[split]``), class-major order."""
        classes, per_class = self._split_classes(split)
        return np.repeat(np.arange(len(classes), dtype=np.int64), per_class)

    def image_features(self, split: str) -> np.ndarray:
        """[n_classes * per_class, dim] float32 raw image features of ``"id"`` or an OOD set, class-major.

        Image ``j`` of a synset is seeded by ``(seed, pos, offset)`` and is the same whatever the
        split's size (rows are drawn in order from the synset's stream). An OOD set's images follow
        its parameters in this config's ``world`` (:meth:`SimulationConfig.ood_set_params`).
        """
        if split in self.ood_synsets:
            return self.ood_image_features(split, **self.config.ood_set_params(split))
        classes, per_class = self._split_classes(split)
        concepts = self._concept("n", [o for _, o in classes])
        eps, z = self._image_draws(classes, per_class)
        return self._images(concepts, np.repeat(np.arange(len(classes)), per_class), eps, z,
                            self.config.image_noise)

    def ood_image_features(self, split: str, id_proximity: float, unnamed: float,
                           image_noise: float) -> np.ndarray:
        """[n, dim] float32 raw image features of OOD set ``split`` under the given per-set parameters
        (``OOD_SET_PARAMS``), whatever this config's ``world``; the calibration calls it directly.

        Image concept ``u(s) = normalise(v(s) + id_proximity v(n(s)) + unnamed r_s)``; with both weights
        0 it is ``v(s)`` itself (bytes of the a-priori world). What no parameter changes (concepts,
        nearest ID concepts, unnamed directions, noise draws) is computed once per world and split.
        """
        if split not in self.ood_synsets:
            raise ValueError(f"split={split!r} is not an OOD set; valid: {list(OOD_SETS)}")
        for key, value in (("id_proximity", id_proximity), ("unnamed", unnamed), ("image_noise", image_noise)):
            low, high = OOD_SET_PARAMS[key]
            if not low <= float(value) <= high:
                raise ValueError(f"{split}: {key}={value!r} is outside its range [{low:g}, {high:g}]")
        parts = self._ood_parts(split)
        concepts = parts["concepts"]
        if id_proximity != 0.0 or unnamed != 0.0:
            concepts = _normalise_rows(concepts + float(id_proximity) * parts["nearest_id"]
                                       + float(unnamed) * parts["unnamed"])
        return self._images(concepts, parts["class_of_image"], parts["eps"], parts["z"], float(image_noise))

    def nearest_id_classes(self, split: str) -> np.ndarray:
        """[n_classes] int64: for each synset of OOD set ``split``, the ID class index whose concept
        has the highest cosine with its concept (``n(s)`` of the fitted world)."""
        return self._ood_parts(split)["nearest_class"]

    def _ood_parts(self, split: str) -> dict[str, np.ndarray]:
        cache = self.__dict__.setdefault("_ood_parts_cache", {})
        if split not in cache:
            classes, per_class = self._split_classes(split)
            concepts = np.concatenate([self._concept(p, [o]) for p, o in classes])
            id_concepts = self._concept("n", self.id_offsets)
            nearest = np.argmax(concepts @ id_concepts.T, axis=1).astype(np.int64)
            unnamed = _normalise_rows(np.stack([_rng(self.config.seed, _TAG_UNNAMED, _POS_CODE[p], o)
                                                .standard_normal(self.config.dim) for p, o in classes]))
            eps, z = self._image_draws(classes, per_class)
            cache[split] = {"concepts": concepts, "nearest_class": nearest, "nearest_id": id_concepts[nearest],
                            "unnamed": unnamed, "eps": eps, "z": z,
                            "class_of_image": np.repeat(np.arange(len(classes)), per_class)}
        return cache[split]

    def _image_draws(self, classes, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-image noise ``[n, dim]`` and norm draws ``[n]`` (float64), class-major, from each
        synset's own stream ``(seed, pos, offset)``."""
        cfg = self.config
        eps = np.empty((len(classes) * per_class, cfg.dim))
        z = np.empty(len(classes) * per_class)
        for k, (pos_file, offset) in enumerate(classes):
            rng = _rng(cfg.seed, _TAG_IMAGE, _POS_CODE[pos_file], offset)
            eps[k * per_class : (k + 1) * per_class] = rng.standard_normal((per_class, cfg.dim))
            z[k * per_class : (k + 1) * per_class] = rng.standard_normal(per_class)
        return eps, z

    def _images(self, concepts: np.ndarray, class_of_image: np.ndarray, eps: np.ndarray, z: np.ndarray,
                image_noise: float) -> np.ndarray:
        """``norm * normalise(u + image_offset g_image + image_noise eps / sqrt(dim))`` as float32 rows."""
        cfg = self.config
        direction = _normalise_rows(concepts[class_of_image] + cfg.image_offset * self._g_image
                                    + image_noise * eps / np.sqrt(cfg.dim))
        norms = cfg.image_norm_mean + cfg.image_norm_std * np.clip(z, -_NORM_Z_CLIP, _NORM_Z_CLIP)
        return (direction * norms[:, None]).astype(np.float32)

    # --- ground truth -----------------------------------------------------------------------------
    def id_names(self) -> set[str]:
        """Strings that name an ID class: open_clip class names and every lemma of every ID synset
        (lower-case, cleaned)."""
        names = {n.lower() for n in self.id_classnames}
        for o in self.id_offsets:
            names |= {_wn.clean_lemma(lemma) for lemma in self._nouns[int(o)].lemmas}
        return names

    def candidate_is_id_like(self, corpus: _corpus.Corpus) -> np.ndarray:
        """[len(corpus)] bool ground truth: True when the candidate is ID-like (a false negative).

        ID-like = its noun synset is an ID class or a descendant (hyponym / instance hyponym,
        transitively) of one, or its word equals an ID class name or a synonym of one (a text
        encoder sees strings, not senses). Everything else, ancestors of ID classes included, is a
        true negative.
        """
        labels = [Label(w, 'a' if a else 'n', int(o)) for w, a, o in zip(corpus.words, corpus.is_adj, corpus.offsets)]
        for pos_file in ('n', 'a'):
            self._check_offsets(pos_file, [lb for lb in labels if lb.pos == pos_file])
        names = self.id_names()
        return np.array([(not adj and int(o) in self._id_descendants) or w in names
                         for w, adj, o in zip(corpus.words, corpus.is_adj, corpus.offsets)], dtype=bool)

    # --- statistics -------------------------------------------------------------------------------
    def statistics(self) -> dict[str, float]:
        """Calibration statistics with the default prompt ``NOUN_TEMPLATE`` (all on L2-normalised
        features unless named ``*_norm_*``):

        matched_cosine / mismatched_cosine : mean cos(ID image, its class's text) / other classes' texts.
        zero_shot_top1 : fraction of ID images whose nearest ID text is their class.
        id_text_cosine : mean cos between two different ID class texts.
        ood_max_cosine_<set> / id_max_cosine : mean over images of the max cosine to the ID texts.
        text_norm_mean / text_norm_std, image_norm_mean : raw norms (ID texts, ID images).
        """
        text_raw = self.encode_labels(self.id_labels(), _prompts.NOUN_TEMPLATE).astype(np.float64)
        img_raw = self.image_features(ID_SPLIT).astype(np.float64)
        text = _normalise_rows(text_raw)
        img = _normalise_rows(img_raw)
        labels = self.image_labels(ID_SPLIT)
        sims = img @ text.T
        matched = sims[np.arange(len(labels)), labels]
        k = text.shape[0]
        tt = text @ text.T
        stats = {
            "matched_cosine": float(matched.mean()),
            "mismatched_cosine": float(((sims.sum(1) - matched) / (k - 1)).mean()),
            "zero_shot_top1": float((sims.argmax(1) == labels).mean()),
            "id_text_cosine": float((tt.sum() - np.trace(tt)) / (k * (k - 1))),
            "id_max_cosine": float(sims.max(1).mean()),
            "text_norm_mean": float(np.sqrt((text_raw ** 2).sum(1)).mean()),
            "text_norm_std": float(np.sqrt((text_raw ** 2).sum(1)).std()),
            "image_norm_mean": float(np.sqrt((img_raw ** 2).sum(1)).mean()),
        }
        for name in OOD_SETS:
            ood = _normalise_rows(self.image_features(name).astype(np.float64))
            stats[f"ood_max_cosine_{name}"] = float((ood @ text.T).max(1).mean())
            stats[f"n_classes_{name}"] = len(self.ood_synsets[name])
        return stats


def build_world(config: SimulationConfig | None = None,
                wordnet_dir: str | os.PathLike | None = None) -> SimulatedWorld:
    """Build the simulated world on the WordNet 3.0 files found by ``wordnet.resolve_wordnet_dir``.

    Concept vectors of all 82,115 noun and 18,156 adjective synsets are computed once per
    ``(wordnet_dir, dim, rho, seed)`` and cached in the process.
    """
    if config is None:
        config = SimulationConfig()
    if not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig (or None), got {type(config).__name__}; "
                        "use SimulationConfig.from_dict(d) for a mapping")
    return SimulatedWorld(config, str(_wn.resolve_wordnet_dir(wordnet_dir)))
