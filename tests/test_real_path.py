"""The real path end to end with what this machine has: a random-weight open_clip model, small
generated images in the benchmarks' folder layouts, the real WordNet corpus (a few lexnames).
Prompting and CSP's ensembling go through the same library code as the simulated path."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from ood_core.features import text_features
from ood_core.features.cache import EmbeddingCache
from ood_core.text.corpus import Corpus
from ood_core.text.prompts import CSP_TEMPLATES
from ood_study.layout import Layout

pytest.importorskip("open_clip")
Image = pytest.importorskip("PIL.Image")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from ood_core.features import encoders

    config = {"embed_dim": 8,
              "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "patch_size": 8, "head_width": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1}}
    encoders.register_model_config("ood-test-tiny-real", config, tmp_path_factory.mktemp("cfg"))
    return encoders.load_encoder("ood-test-tiny-real", pretrained=None, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """ImageNet-10 (ID, wnid folders) and SUN (OOD, MOS layout) with 2 and 3 random images."""
    from ood_core.text.imagenet import imagenet_wnids

    root = tmp_path_factory.mktemp("benchmarks")
    rng = np.random.default_rng(0)
    for wnid in imagenet_wnids()[:10]:
        for i in range(2):
            path = root / "ImageNet10" / "val" / wnid / f"{i}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    for i in range(3):
        path = root / "SUN" / "images" / f"sun_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (18, 18, 3), dtype=np.uint8)).save(path)
    return root


def test_clip_source_builds_csp_features_as_the_released_code(tiny_encoder, data_root, tmp_path):
    from ood_core.features import image_sets
    from ood_core.features.clip import ClipFeatures

    # image_set, not require: these folders hold a few images, not the full sets' counts
    sets = {"imagenet10": image_sets.image_set("imagenet10", root=data_root),
            "sun": image_sets.image_set("sun", root=data_root)}
    source = ClipFeatures(tiny_encoder, sets, "imagenet10", EmbeddingCache(tmp_path / "cache"), batch_size=4,
                          num_workers=0)
    corpus = Corpus(words=["rock", "red", "tree"], is_adj=np.array([False, True, False]),
                    lexnames=["noun.object", "adj.all", "noun.plant"], offsets=np.array([1, 2, 3]))
    texts = text_features(source, corpus, "the nice {}", "the nice {}", "This is a {} photo", csp_seed=0)
    direct = tiny_encoder.encode_text(["the nice rock", "This is a red photo", "the nice tree"])
    np.testing.assert_allclose(texts.candidates, direct, rtol=1e-5, atol=1e-6)
    from ood_core.features import csp_adjective_labels

    label = csp_adjective_labels(corpus, 0)[0].text
    raw = np.mean([tiny_encoder.encode_text([t.format(label)])[0].astype(np.float64) for t in CSP_TEMPLATES], axis=0)
    np.testing.assert_allclose(texts.csp_adjectives[0], raw / np.linalg.norm(raw), rtol=1e-4, atol=1e-6)
    assert texts.id_labels.shape == (10, 8)
    assert source.image_features("sun").shape == (3, 8)


@pytest.mark.e2e  # every stage (corpus, embed, mine, score) on the real layout
def test_stages_on_a_real_layout_with_a_random_weight_model(tiny_encoder, data_root, tmp_path, monkeypatch):
    from ood_core.features import encoders, image_sets
    from ood_study.stages import corpus, embed, mine, score

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["benchmarks"] = ["tinyreal"]
    raw["benchmark_sets"]["tinyreal"] = {"id": "imagenet10", "ood": ["sun"]}
    raw["image_sets"] = {"imagenet10": "ImageNet10/val", "sun": "SUN/images"}  # the folders DVC tracks
    raw["paths"]["data_root"] = str(data_root)
    raw["corpus"]["noun_lexnames"] = ["noun.motive", "noun.shape"]
    raw["corpus"]["adj_lexnames"] = ["adj.ppl"]
    raw["encoder"].update(num_workers=0, batch_size=8, precision="fp32")
    mp = raw["method_params"]
    mp["dnm"]["mining"]["k"] = 5
    for m in mp:  # every method with groups (also those added later): 2 groups for the tiny corpus
        if isinstance(mp[m].get("scoring"), dict) and "n_groups" in mp[m]["scoring"]:
            mp[m]["scoring"]["n_groups"] = 2
        if isinstance(mp[m].get("scoring"), dict) and "n_activated" in mp[m]["scoring"]:
            mp[m]["scoring"]["n_activated"] = 100  # TANL picks from the corpus: 428 candidates here
    mp["dnm"]["scoring"]["tau"] = 0.1
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(encoders, "load_backbone", lambda name, **kw: tiny_encoder)
    # The folders hold a few images, not the full sets' counts (require() checks those elsewhere).
    monkeypatch.setattr(image_sets, "require", image_sets.image_set)
    common = ["--params", str(params_path), "--root", str(tmp_path)]
    item = ["--benchmark", "tinyreal", "--backbone", "ViT-B-16"]
    corpus.main(common)
    embed.main(["text", *common, *item])
    embed.main(["images", *common, *item])
    layout = Layout(tmp_path)
    study = "tinyreal-ViT-B-16"
    assert np.load(layout.image_file(study, "sun")).shape == (3, 8)
    assert np.load(layout.image_file(study, "imagenet10")).shape == (20, 8)
    assert not layout.text_file(study, "id_like.npy").exists()  # ground truth exists only when simulated
    for method in raw["methods"]:
        mine.main([*common, *item, "--method", method])
        score.main([*common, *item, "--method", method])
        metrics = yaml.safe_load(layout.metrics(study, method).read_text())
        assert set(metrics["AUROC"]) == {"sun", "average"}
        assert all(0.0 <= v <= 100.0 for v in metrics["AUROC"].values())
    assert len(list((tmp_path / "data" / "cache").glob("*.npy"))) > 0  # encoded once, cached


def test_skip_unreadable_accepts_a_set_whose_only_problem_is_unreadable_files(monkeypatch):
    from types import SimpleNamespace

    from ood_core.features import image_sets
    from ood_study.stages.embed import _checked

    def fake(problems, unreadable):
        report = SimpleNamespace(ok=not problems, problems=problems, unreadable=unreadable)
        report.__str__ = lambda self: "; ".join(problems)
        dataset = SimpleNamespace(check=lambda: report)
        monkeypatch.setattr(image_sets, "image_set", lambda name, root: dataset)
        monkeypatch.setattr(image_sets, "require",
                            lambda name, root: (_ for _ in ()).throw(FileNotFoundError("require")))
        return dataset

    only_bad_files = fake(["1 unreadable image"], ["a.jpg"])
    assert _checked("sun", "root", skip_unreadable=True) is only_bad_files  # accepted, not raised
    with pytest.raises(FileNotFoundError, match="require"):  # without the option, require() decides
        _checked("sun", "root", skip_unreadable=False)
    fake(["1 unreadable image", "5 images missing"], ["a.jpg"])
    with pytest.raises(FileNotFoundError, match="5 images missing"):  # a missing image is never skipped
        _checked("sun", "root", skip_unreadable=True)
