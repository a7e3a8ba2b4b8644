"""CSV as people have it (issue 12, item 2): delimiters, header names kept,
numeric and categorical columns with their statistics, missing cells, text
labels as class names, task= overriding the guess, and the rows preview.
Statistics are checked against Python's statistics module on the same
values (rounded to float32 first, as the server stores them)."""
import os
import random
import statistics
import struct
import sys

from harness import FitdCase, mlp_body


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


MISSING = ("", "NA", "N/A", "null", "?")


def penguins(n=120, seed=3):
    """A penguins-like table: numbers on unscaled ranges, two text columns,
    missing cells of every spelling, a text label."""
    rng = random.Random(seed)
    species = ["Adelie", "Gentoo", "Chinstrap"]
    islands = {"Adelie": "Torgersen", "Gentoo": "Biscoe", "Chinstrap": "Dream"}
    rows = []
    for i in range(n):
        s = species[i % 3]
        bill = round(rng.gauss({"Adelie": 38.8, "Gentoo": 47.5, "Chinstrap": 48.8}[s], 2.5), 1)
        mass = int(rng.gauss({"Adelie": 3700, "Gentoo": 5076, "Chinstrap": 3733}[s], 300))
        sex = rng.choice(["male", "female"])
        cells = [str(bill), islands[s], sex, str(mass), s]
        if i % 7 == 3:
            cells[0] = MISSING[i % 5]
        if i % 11 == 5:
            cells[2] = MISSING[(i + 1) % 5]
        rows.append(cells)
    return ["bill_length_mm", "island", "sex", "body_mass_g", "species"], rows


def to_csv(header, rows, sep=","):
    return "\n".join(sep.join(r) for r in [header] + rows) + "\n"


class TestCsvColumns(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="csvcols")
        cls.c = cls.srv.client

    def upload(self, text, query=""):
        return self.c.request("POST", "/v1/datasets" + query, body=text, headers={"Content-Type": "text/csv"})

    def total(self):
        return self.c.get("/v1/datasets").json["total"]

    def test_penguins_columns_and_statistics(self):
        header, rows = penguins()
        r = self.upload(to_csv(header, rows), "?name=penguins&label=species")
        self.assertStatus(r, 201)
        d = r.json
        self.assertEqual(d["n_samples"], len(rows))
        self.assertEqual(d["n_features"], 4)
        self.assertEqual(d["y_kind"], "class")
        self.assertEqual(d["n_classes"], 3)
        self.assertEqual(d["class_names"], ["Adelie", "Chinstrap", "Gentoo"])  # byte order
        self.assertEqual(d["n_categorical"], 2)
        n_missing = sum(1 for r_ in rows for c in r_[:4] if c in MISSING)
        self.assertEqual(d["n_missing"], n_missing)
        cols = d["columns"]
        self.assertEqual([c["name"] for c in cols], header)
        self.assertEqual([c["role"] for c in cols], ["feature"] * 4 + ["label"])
        self.assertEqual([c["kind"] for c in cols], ["numeric", "categorical", "categorical", "numeric", "categorical"])
        for i in (0, 3):
            values = [f32(float(r_[i])) for r_ in rows if r_[i] not in MISSING]
            c = cols[i]
            self.assertEqual(c["count"], len(values))
            self.assertEqual(c["missing"], len(rows) - len(values))
            self.assertEqual(f32(c["min"]), f32(min(values)))  # the shortest text of the float32
            self.assertEqual(f32(c["max"]), f32(max(values)))
            # one pass in doubles against statistics' exact fractions: relative 1e-12 is
            # thousands of double ulps, far below any float32 effect
            self.assertAlmostEqual(c["mean"], statistics.fmean(values), delta=1e-12 * abs(statistics.fmean(values)))
            self.assertAlmostEqual(c["std"], statistics.pstdev(values), delta=1e-9 * statistics.pstdev(values))
        for i in (1, 2, 4):
            seen = {}
            for r_ in rows:
                if r_[i] not in MISSING:
                    seen[r_[i]] = seen.get(r_[i], 0) + 1
            got = {x["value"]: x["count"] for x in cols[i]["categories"]}
            self.assertEqual(got, seen)
            self.assertEqual(cols[i]["missing"], sum(1 for r_ in rows if r_[i] in MISSING))
        # GET shows the same; the list leaves the columns out
        g = self.c.get("/v1/datasets/%d" % d["id"]).json
        self.assertEqual(g["columns"], cols)
        self.assertEqual(g["class_names"], d["class_names"])
        listed = [x for x in self.c.get("/v1/datasets?limit=500").json["items"] if x["id"] == d["id"]][0]
        self.assertNotIn("columns", listed)
        self.assertEqual(listed["n_missing"], n_missing)

        # the rows preview, by name, missing cells null, paging
        r = self.c.get("/v1/datasets/%d/rows?offset=2&limit=5" % d["id"])
        self.assertStatus(r, 200)
        p = r.json
        self.assertEqual(p["columns"], header)
        self.assertEqual(p["offset"], 2)
        self.assertEqual(p["total"], len(rows))
        self.assertEqual(len(p["rows"]), 5)
        for got, want in zip(p["rows"], rows[2:7]):
            self.assertEqual(list(got), header)
            for name, cell in zip(header, want):
                if cell in MISSING:
                    self.assertIsNone(got[name])
                elif name in ("bill_length_mm", "body_mass_g"):
                    self.assertEqual(got[name], float(cell))  # the shortest float32 text is the cell's
                else:
                    self.assertEqual(got[name], cell)
        # all rows in pages of 50 give every stored label back by name
        labels = []
        for off in range(0, len(rows), 50):
            labels += [x["species"] for x in self.c.get("/v1/datasets/%d/rows?offset=%d&limit=50" % (d["id"], off)).json["rows"]]
        self.assertEqual(labels, [r_[4] for r_ in rows])
        self.assertEqual(self.c.get("/v1/datasets/%d/rows?offset=%d" % (d["id"], len(rows))).json["rows"], [])
        self.assertError(self.c.get("/v1/datasets/%d/rows?limit=0" % d["id"]), 422, "validation_failed", "limit")
        self.assertError(self.c.get("/v1/datasets/%d/rows?limt=3" % d["id"]), 422, "validation_failed", "limt")
        self.assertError(self.c.get("/v1/datasets/999999/rows"), 404, "not_found")

        # one-hot: island 3 + sex 2 + 2 numbers; a model of the raw width gets a 422 saying so
        self.assertEqual(d["encoded_width"], 7)
        m = self.c.post("/v1/models", mlp_body(input_dim=4, hidden=(8,), outputs=3)).json
        r = self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": d["id"], "epochs": 1})
        e = self.assertError(r, 422, "validation_failed", "dataset_id")
        self.assertIn("make it 7", e["message"])

    def test_text_label_trains_and_classes_agree_across_files(self):
        rng = random.Random(5)
        names = ["setosa", "versicolor", "virginica"]
        def rows(n, order):
            out = []
            for i in range(n):
                k = order[i % 3]
                out.append([str(round(rng.gauss(5 + k, 0.15), 2)), str(round(rng.gauss(3 - k, 0.15), 2)), names[k]])
            return out
        train = rows(150, [2, 0, 1])  # virginica first
        test = rows(60, [1, 2, 0])    # versicolor first
        d1 = self.upload(to_csv(["a", "b", "species"], train), "?label=species").json
        d2 = self.upload(to_csv(["a", "b", "species"], test), "?label=species").json
        self.assertEqual(d1["class_names"], names)
        self.assertEqual(d2["class_names"], names)
        m = self.c.post("/v1/models", mlp_body(input_dim=2, hidden=(16,), outputs=3, seed=1)).json
        job = self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": d1["id"], "epochs": 150,
                                       "batch_size": 16, "seed": 1}).json
        done = self.wait_job(self.c, job["id"], timeout=120)
        self.assertEqual(done["status"], "succeeded", done)
        ev = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": d2["id"]})
        self.assertStatus(ev, 200)
        # well separated classes: a held-out file numbered alike scores high; numbered by
        # first appearance (virginica 0 there, versicolor 0 here) every row would be wrong
        self.assertGreater(ev.json["accuracy"], 0.8, ev.json)

        # the model learned the class names: predict answers with them (stored or not)
        self.assertEqual(self.c.get("/v1/models/%d" % m["id"]).json["class_names"], names)
        centres = [[5 + k, 3 - k] for k in range(3)]
        for q in ("", "?store=false"):
            r = self.c.post("/v1/models/%d/predict%s" % (m["id"], q), {"instances": centres})
            self.assertStatus(r, 200)
            self.assertEqual(r.json["classes"], names)
            self.assertEqual(len(r.json["predictions"]), 3)
        # other classes: evaluate, a new job and a validation set with other names are refused
        other = self.upload(to_csv(["a", "b", "kind"], [["1", "2", "x"], ["2", "3", "y"], ["3", "1", "z"]])).json
        self.assertEqual(other["class_names"], ["x", "y", "z"])
        e = self.assertError(self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": other["id"]}), 422,
                             "validation_failed", "dataset_id")
        self.assertIn("setosa", e["message"])
        self.assertError(self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": other["id"], "epochs": 1}),
                         422, "validation_failed", "dataset_id")
        m2 = self.c.post("/v1/models", mlp_body(input_dim=2, hidden=(4,), outputs=3)).json
        self.assertError(self.c.post("/v1/jobs", {"model_id": m2["id"], "dataset_id": d1["id"],
                                                  "validation_dataset_id": other["id"], "epochs": 1}),
                         422, "validation_failed", "validation_dataset_id")
        numeric = self.upload(to_csv(["a", "b", "y"], [["1", "2", "0"], ["2", "3", "2"]])).json
        self.assertError(self.c.post("/v1/jobs", {"model_id": m2["id"], "dataset_id": d1["id"],
                                                  "validation_dataset_id": numeric["id"], "epochs": 1}),
                         422, "validation_failed", "validation_dataset_id")
        self.assertIsNone(self.c.get("/v1/models/%d" % m2["id"]).json["class_names"], "a refused job teaches nothing")
        # a model of numeric labels answers with indices
        r = self.c.post("/v1/models/%d/predict" % m2["id"], {"instances": centres})
        self.assertTrue(all(isinstance(k, int) for k in r.json["classes"]), r.json)

    def test_delimiters(self):
        for sep, q in ((";", "%3B"), ("\t", "tab"), ("\t", "%09"), ("|", "%7C"), (":", ":")):
            with self.subTest(sep=sep, q=q):
                r = self.upload("a%sb%sc\n1%s2%s0\n3%s4%s1\n" % ((sep,) * 6), "?delimiter=" + q)
                self.assertStatus(r, 201)
                self.assertEqual(r.json["n_features"], 2)
                self.assertEqual([c["name"] for c in r.json["columns"]], ["a", "b", "c"])
        before = self.total()
        e = self.assertError(self.upload("a;b;c\n1;2;0\n"), 400, "invalid_csv")
        self.assertIn("delimiter", e["message"])
        self.assertError(self.upload("a,b\n1,2\n", "?delimiter=ab"), 422, "validation_failed", "delimiter")
        self.assertError(self.upload("a,b\n1,2\n", "?delimiter=%22"), 422, "validation_failed", "delimiter")
        self.assertEqual(self.total(), before)

    def test_label_errors_list_columns(self):
        e = self.assertError(self.upload("sepal,petal,species\n1,2,x\n", "?label=specis"), 422, "validation_failed",
                             "label")
        for name in ("sepal", "petal", "species"):
            self.assertIn(name, e["message"])
        # curl -d strips newlines: one line, one long header; the message shows it
        e = self.assertError(self.upload("a,b,species1,2,x", "?label=species"), 422, "validation_failed", "label")
        self.assertIn("species1", e["message"])

    def test_task_override(self):
        rng = random.Random(9)
        rows = [[str(rng.random()), str(rng.randrange(0, 347))] for _ in range(400)]
        text = to_csv(["x", "price"], rows)
        self.assertEqual(self.upload(text).json["y_kind"], "class")
        r = self.upload(text, "?task=regression")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["y_kind"], "real")
        self.assertIsNone(r.json["n_classes"])
        # real targets cannot be classes; text cannot be regressed; a typo is refused
        real = to_csv(["x", "y"], [["1", "0.5"], ["2", "1.5"]])
        self.assertError(self.upload(real, "?task=classification"), 422, "validation_failed", "task")
        self.assertError(self.upload(to_csv(["x", "y"], [["1", "cat"]]), "?task=regression"), 422,
                         "validation_failed", "task")
        self.assertError(self.upload(real, "?task=regresion"), 422, "validation_failed", "task")
        # JSON uploads take task too, and refuse the CSV options
        r = self.c.post("/v1/datasets?task=regression", {"x": [[1], [2]], "y": [0, 1]})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["y_kind"], "real")
        self.assertError(self.c.post("/v1/datasets?label=y", {"x": [[1]], "y": [0]}), 422, "validation_failed",
                         "label")

    def test_kinds_missing_and_refusals(self):
        before = self.total()
        # a number column with text later: 400 naming line, column and the column's name
        e = self.assertError(self.upload("a,b\n1,0\nred,1\n"), 400, "invalid_csv")
        self.assertIn("line 3, column 1", e["message"])
        self.assertIn('"a"', e["message"])
        # a missing label
        e = self.assertError(self.upload("a,b\n1,0\n2,NA\n"), 400, "invalid_csv")
        self.assertIn("label is missing", e["message"])
        # too many categories, after many rows were already stored: nothing left behind
        text = "id,y\n" + "".join("k%d,%d\n" % (i, i % 2) for i in range(1001))
        e = self.assertError(self.upload(text), 400, "invalid_csv")
        self.assertIn("1000", e["message"])
        # inf is a number that is not finite, never a category
        self.assertError(self.upload("a,b\ninf,1\n"), 400, "invalid_csv")
        # duplicate header names
        self.assertError(self.upload("a,a,b\n1,2,0\n"), 400, "invalid_csv")
        self.assertEqual(self.total(), before)
        # text first makes a column categorical, numbers after it are categories
        r = self.upload("color,y\nred,0\n7,1\n,0\n")
        self.assertStatus(r, 201)
        c = r.json["columns"][0]
        self.assertEqual(c["kind"], "categorical")
        self.assertEqual([x["value"] for x in c["categories"]], ["red", "7"])
        self.assertEqual(c["missing"], 1)
        rows = self.c.get("/v1/datasets/%d/rows" % r.json["id"]).json["rows"]
        self.assertEqual(rows, [{"color": "red", "y": 0}, {"color": "7", "y": 1}, {"color": None, "y": 0}])

    def test_json_upload_preview(self):
        r = self.c.post("/v1/datasets", {"x": [[1.5, 2], [3, 4]], "y": [[0, 1], [1, 0]]})
        self.assertStatus(r, 201)
        self.assertIsNone(r.json["columns"])
        p = self.c.get("/v1/datasets/%d/rows" % r.json["id"]).json
        self.assertEqual(p["columns"], ["x[0]", "x[1]", "y"])
        self.assertEqual(p["rows"], [{"x[0]": 1.5, "x[1]": 2, "y": [0, 1]}, {"x[0]": 3, "x[1]": 4, "y": [1, 0]}])


SKLEARN_PYTHON = "/usr/bin/python3"
SKLEARN_SCRIPT = r"""
import json, sys
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
d = json.load(sys.stdin)
clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(d["x"], d["y"])
print(json.dumps(float(clf.score(d["tx"], d["ty"]))))
"""


class TestIrisByName(FitdCase):
    """An iris-like file as distributed (text species, unscaled columns),
    uploaded as is, trained with no client-side preprocessing, predicted by
    column name, answered with class names; held-out accuracy against
    scikit-learn's StandardScaler + LogisticRegression on the same rows."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="irisname")
        cls.c = cls.srv.client

    def test_iris_end_to_end(self):
        import json
        import subprocess
        rng = random.Random(12)
        names = ["setosa", "versicolor", "virginica"]
        header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
        centres = [[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]]
        spread = [0.35, 0.3, 0.3, 0.15]
        def row(k):
            return [round(rng.gauss(centres[k][j], spread[j]), 1) for j in range(4)]
        train = [(row(i % 3), i % 3) for i in range(150)]
        train.sort(key=lambda t: t[1])  # as iris is distributed: sorted by species
        test = [(row(k), k) for k in (rng.randrange(3) for _ in range(90))]
        text = ",".join(header) + "\n" + "".join(",".join(map(str, f)) + "," + names[k] + "\n" for f, k in train)
        r = self.c.request("POST", "/v1/datasets?name=iris&label=species", body=text,
                           headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["class_names"], names)
        m = self.c.post("/v1/models", mlp_body(input_dim=4, hidden=(16,), outputs=3, seed=3)).json
        job = self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": r.json["id"], "epochs": 150,
                                       "batch_size": 16, "seed": 3}).json
        self.assertEqual(self.wait_job(self.c, job["id"], timeout=180)["status"], "succeeded")
        model = self.c.get("/v1/models/%d" % m["id"]).json
        self.assertEqual(model["feature_names"], header[:4])
        self.assertEqual(model["class_names"], names)

        # by column name, in any key order; arrays still work and agree
        by_name = [dict(reversed(list(zip(header[:4], f)))) for f, _ in test]
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": by_name})
        self.assertStatus(p, 200)
        q = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [f for f, _ in test]})
        self.assertEqual(p.json, q.json)
        got = p.json["classes"]
        self.assertTrue(set(got) <= set(names), got)
        accuracy = sum(g == names[k] for g, (_, k) in zip(got, test)) / len(test)

        probe = subprocess.run([SKLEARN_PYTHON, "-c", "import sklearn"], capture_output=True)
        if probe.returncode == 0:
            data = {"x": [f for f, _ in train], "y": [k for _, k in train], "tx": [f for f, _ in test],
                    "ty": [k for _, k in test]}
            out = subprocess.run([SKLEARN_PYTHON, "-c", SKLEARN_SCRIPT], input=json.dumps(data), capture_output=True,
                                 text=True, check=True)
            reference = json.loads(out.stdout)
            # unscaled inputs into a small MLP: within a few points of the scaled reference
            if os.environ.get("FITD_FIGURES"):
                print("held-out accuracy: fitd %.4f, scikit-learn %.4f" % (accuracy, reference), file=sys.stderr)
            self.assertGreaterEqual(accuracy, reference - 0.08, (accuracy, reference))
        self.assertGreater(accuracy, 0.8)

        # names strictly: a typo, a missing column, a category or a null are 422s naming the cell
        one = dict(zip(header[:4], test[0][0]))
        bad = dict(one, petal_widht=1.0)
        del bad["petal_width"]
        e = self.assertError(self.c.post("/v1/models/%d/predict" % m["id"], {"instances": [one, bad]}), 422,
                             "validation_failed", "instances[1].petal_widht")
        missing = dict(one)
        del missing["sepal_width"]
        self.assertError(self.c.post("/v1/models/%d/predict" % m["id"], {"instances": [missing]}), 422,
                         "validation_failed", "instances[0].sepal_width")
        for v in (None, "big"):
            self.assertError(self.c.post("/v1/models/%d/predict" % m["id"], {"instances": [dict(one, sepal_length=v)]}),
                             422, "validation_failed", "instances[0].sepal_length")
        # a model without column names takes arrays only
        m2 = self.c.post("/v1/models", mlp_body(input_dim=4, hidden=(4,), outputs=3)).json
        self.assertError(self.c.post("/v1/models/%d/predict" % m2["id"], {"instances": [one]}), 422,
                         "validation_failed", "instances[0]")
        # the model's columns are asked of every later dataset
        other = ",".join(["a", "b", "c", "d", "species"]) + "\n1,2,3,4,setosa\n1,2,3,4,versicolor\n1,2,3,4,virginica\n"
        o = self.c.request("POST", "/v1/datasets", body=other, headers={"Content-Type": "text/csv"}).json
        e = self.assertError(self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": o["id"], "epochs": 1}),
                             422, "validation_failed", "dataset_id")
        self.assertIn("sepal_length", e["message"])


SKLEARN_PIPELINE = r"""
import json, sys
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
d = json.load(sys.stdin)
def frame(rows):
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=object)
num, cat = d["num"], d["cat"]
pre = ColumnTransformer([
    ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), num),
    ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore")), cat)])
clf = make_pipeline(pre, LogisticRegression(max_iter=5000)).fit(frame(d["x"]), d["y"])
print(json.dumps(float(clf.score(frame(d["tx"]), d["ty"]))))
"""


class TestPenguinsPreprocessing(FitdCase):
    """A penguins-like file with a categorical column, missing cells and
    unscaled numbers: trained with no client-side preprocessing (the model
    one-hot encodes and imputes), predicted by column name with text and
    nulls, against scikit-learn's imputer + scaler + one-hot pipeline."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="penguinsprep")
        cls.c = cls.srv.client

    def test_end_to_end(self):
        import json
        import subprocess
        header, rows = penguins(n=360, seed=21)
        train, test = rows[:240], rows[240:]
        r = self.c.request("POST", "/v1/datasets?name=penguins&label=species", body=to_csv(header, train),
                           headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        d = r.json
        width = d["encoded_width"]
        self.assertEqual(width, 2 + 3 + 2)
        m = self.c.post("/v1/models", mlp_body(input_dim=width, hidden=(16,), outputs=3, seed=4)).json
        job = self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": d["id"], "epochs": 200, "batch_size": 16,
                                       "validation_split": 0.2, "seed": 4}).json
        done = self.wait_job(self.c, job["id"], timeout=240)
        self.assertEqual(done["status"], "succeeded", done)
        model = self.c.get("/v1/models/%d" % m["id"]).json
        prep = model["preprocessing"]
        self.assertEqual(prep["width"], width)
        self.assertEqual([c["name"] for c in prep["columns"]], header[:4])
        # the imputed value is the mean of the training rows only (the first 80%)
        n_train = int(len(train) * 0.8)
        for j in (0, 3):
            values = [f32(float(r_[j])) for r_ in train[:n_train] if r_[j] not in MISSING]
            self.assertAlmostEqual(prep["columns"][j]["impute"], statistics.fmean(values),
                                   delta=1e-9 * abs(statistics.fmean(values)))
        self.assertEqual(set(prep["columns"][1]["categories"]), {"Torgersen", "Biscoe", "Dream"})

        def instance(r_):
            out = {}
            for name, v in zip(header[:4], r_[:4]):
                if v in MISSING:
                    out[name] = None
                elif name in ("island", "sex"):
                    out[name] = v
                else:
                    out[name] = float(v)
            return out
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [instance(r_) for r_ in test]})
        self.assertStatus(p, 200)
        accuracy = sum(g == r_[4] for g, r_ in zip(p.json["classes"], test)) / len(test)
        # evaluate on an uploaded held-out file agrees with predict
        t = self.c.request("POST", "/v1/datasets?label=species", body=to_csv(header, test),
                           headers={"Content-Type": "text/csv"}).json
        ev = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": t["id"]})
        self.assertStatus(ev, 200)
        self.assertAlmostEqual(ev.json["accuracy"], accuracy, delta=1e-9)
        # an unseen category is all zeros, not an error; a number where text belongs is refused
        one = instance(test[0])
        self.assertStatus(self.c.post("/v1/models/%d/predict" % m["id"],
                                      {"instances": [dict(one, island="Atlantis")]}), 200)
        self.assertError(self.c.post("/v1/models/%d/predict" % m["id"], {"instances": [dict(one, island=3)]}),
                         422, "validation_failed", "instances[0].island")

        probe = subprocess.run([SKLEARN_PYTHON, "-c", "import sklearn"], capture_output=True)
        if probe.returncode == 0:
            def cells(rs):
                return [[None if v in MISSING else (v if j in (1, 2) else float(v)) for j, v in enumerate(r_[:4])]
                        for r_ in rs]
            data = {"x": cells(train), "y": [r_[4] for r_ in train], "tx": cells(test), "ty": [r_[4] for r_ in test],
                    "num": [0, 3], "cat": [1, 2]}
            out = subprocess.run([SKLEARN_PYTHON, "-c", SKLEARN_PIPELINE], input=json.dumps(data),
                                 capture_output=True, text=True, check=True)
            reference = json.loads(out.stdout)
            if os.environ.get("FITD_FIGURES"):
                print("held-out accuracy: fitd %.4f, scikit-learn %.4f" % (accuracy, reference), file=sys.stderr)
            self.assertGreaterEqual(accuracy, reference - 0.08, (accuracy, reference))
        self.assertGreater(accuracy, 0.8)

    def test_deterministic(self):
        """The same job on the same data gives the same weights, preprocessing included."""
        header, rows = penguins(n=90, seed=8)
        d = self.c.request("POST", "/v1/datasets?label=species", body=to_csv(header, rows),
                           headers={"Content-Type": "text/csv"}).json
        shas, preps = [], []
        for _ in range(2):
            m = self.c.post("/v1/models", mlp_body(input_dim=d["encoded_width"], hidden=(6,), outputs=3, seed=9)).json
            job = self.c.post("/v1/jobs", {"model_id": m["id"], "dataset_id": d["id"], "epochs": 5, "seed": 9,
                                           "validation_split": 0.25}).json
            done = self.wait_job(self.c, job["id"], timeout=120)
            self.assertEqual(done["status"], "succeeded", done)
            shas.append(done["weights_sha256"])
            preps.append(self.c.get("/v1/models/%d" % m["id"]).json["preprocessing"])
        self.assertEqual(shas[0], shas[1])
        self.assertEqual(preps[0], preps[1])
        self.assertIsNotNone(preps[0])
