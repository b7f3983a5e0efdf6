#!/usr/bin/env python
"""Head to head: pVACseq (pvactools) against NeoRank on the same cohort.

Takes a finished ``scripts/benchmark.py`` run folder (synthetic reference,
paired VCF, 6 alleles, NeoRank results and timing in benchmark.json) and runs
pVACseq in its own virtualenv on the same VCF with the same MHCflurry model
folder, alleles and peptide lengths (8-11), then compares::

    python3.11 -m venv /work/pvac-venv
    /work/pvac-venv/bin/pip install pvactools==7.1.5 pyarrow==20.0.0 tf-keras==2.21.0
    .venv/bin/python scripts/benchmark.py --variants 1000 --workdir /tmp/nb1k
    .venv/bin/python scripts/benchmark_pvacseq.py --workdir /tmp/nb1k

(pvactools 7.1.5 pins mhcflurry 2.0.6, numpy 1.26.4 and pandas < 2.1; pip then
picks pyarrow 26, which needs NumPy 2 and breaks ``import sklearn``, hence
pyarrow 20; and tensorflow 2.21, whose ``tf.keras`` is Keras 3, which
mhcflurry 2.0.6 cannot use, hence tf-keras and ``TF_USE_LEGACY_KERAS=1``.)

Three steps, each in the pVACseq virtualenv and timed on its own; only the
third is pVACseq's time:

1. ``convert-models`` (not timed against anyone): pVACseq runs the
   ``mhcflurry-predict`` command of mhcflurry 2.0.6 (Keras), which cannot load
   resources/mhcflurry/embedded as saved by mhcflurry 2.3.16 (PyTorch): the
   manifest has hyperparameters 2.0.6 rejects, the network description is not
   Keras JSON, dense kernels are stored (out, in) and the percentile
   calibration is the newer compact JSON. So a copy is written into the run
   folder with 2.0.6's own classes: each member's network is built by 2.0.6
   from the same architecture hyperparameters (the extra 2.3 keys are
   training-only and dropped; ``normalization`` must be ``none``), the same
   weights are set (dense kernels transposed), and each allele's percentile
   curve is tabulated into 2.0.6's ``percent_ranks.csv`` on 4,000 log-spaced
   bins (1 nM - 100 uM). One addition: 2.0.6 merges an ensemble into a single
   network (its fast path, which the official models take) only if every
   member has a ``dropout_0`` layer, so the copy gets ``dropout_probability``
   1.0, which in 2.0.6 (a keep probability) is ``Dropout(rate=0)``, an
   identity layer. The comparison checks the result: the IC50 pVACseq reports
   for each shared (peptide, allele) pair against NeoRank's.
2. ``annotate``, the stand-in for Ensembl VEP (not available offline): a
   :class:`pyensembl.Genome` over the synthetic GTF/cDNA/peptide FASTA and
   varcode's effect prediction (the versions pvactools installs), independent
   of NeoRank's code, write the VCF with a VEP ``CSQ`` field, one entry per
   (ALT, protein-coding transcript) effect: SO terms (``missense_variant``,
   ``frameshift_variant``, ``inframe_insertion``, ``stop_gained``, ... plus
   ``&splice_region_variant`` for coding changes at an exon edge), VEP's
   ``Allele``, ``Protein_position`` and ``Amino_acids`` conventions, and the
   fields of VEP's Wildtype (``WildtypeProtein``), Frameshift
   (``FrameshiftSequence``, the whole mutant protein) and Downstream
   (``DownstreamProtein``, ``ProteinLengthChange``) plugins. ``Codons``,
   ``HGVSc``, ``TSL`` and ``CANONICAL`` stay empty or absent (pVACseq only
   copies them into its reports or uses them in filtered.tsv). Its time is
   reported but NOT added to pVACseq's: a real VEP run costs more than this,
   so leaving it out favours pVACseq and the ratio is conservative.
3. ``pvacseq run`` with ``MHCflurry`` (affinity; the embedded models have no
   presentation part), the alleles, tumour and normal sample names of the
   NeoRank run, epitope lengths 8-11, ``-b 500``, ``-t 2``, ``--pass-only``
   (NeoRank keeps PASS records only), ``-d full`` (whole frameshift tail, as
   NeoRank) and coverage cut-offs set to NeoRank's somatic thresholds. The
   models are handed over through ``MHCFLURRY_DEFAULT_CLASS1_PRESENTATION_MODELS_DIR``
   (pVACseq calls ``mhcflurry-predict`` without ``--models``; an affinity-only
   folder there means affinity-only prediction). Wall time, CPU time and peak
   memory of the whole process tree are measured as for NeoRank.

The comparison uses pVACseq's all_epitopes.tsv (every epitope predicted,
before its coverage, binding and top-score filters) against NeoRank's
peptides.tsv: Jaccard of the unique mutant peptide sets (8-11 aa) with every
difference put into a category, and ``speed_ratio=<pvacseq / neorank>`` with
NeoRank's end-to-end wall time from benchmark.json. ``--max-variants N``
annotates only the first N VCF records (a smoke run; NeoRank's peptides are
then restricted to the same records). ``--models`` must be the model folder
the NeoRank run used: if resources/mhcflurry/embedded was rebuilt since, pass
the old one (e.g. from ``git archive``); ``affinity_check`` in the JSON (IC50
of shared pairs, pVACseq against NeoRank) shows any mismatch. NeoRank's
``min_tumor_alt_reads`` has no pVACseq counterpart; the JSON counts the
variants pVACseq's coverage filter would drop among those NeoRank keeps.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_MODELS = ROOT / "resources" / "mhcflurry" / "embedded"
LENGTHS = [8, 9, 10, 11]

#: The CSQ layout of a ``vep --symbol --biotype --tsl --hgvs --plugin Wildtype
#: --plugin Frameshift --plugin Downstream`` run, as pVACseq's docs ask for.
CSQ_FIELDS = ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature",
              "BIOTYPE", "EXON", "INTRON", "HGVSc", "HGVSp", "cDNA_position", "CDS_position",
              "Protein_position", "Amino_acids", "Codons", "Existing_variation", "DISTANCE",
              "STRAND", "FLAGS", "SYMBOL_SOURCE", "HGNC_ID", "TSL", "WildtypeProtein",
              "FrameshiftSequence", "DownstreamProtein", "ProteinLengthChange"]
IMPACT = {"frameshift_variant": "HIGH", "stop_gained": "HIGH", "stop_lost": "HIGH",
          "start_lost": "HIGH", "splice_donor_variant": "HIGH", "splice_acceptor_variant": "HIGH",
          "missense_variant": "MODERATE", "inframe_insertion": "MODERATE",
          "inframe_deletion": "MODERATE", "synonymous_variant": "LOW",
          "splice_region_variant": "LOW"}
#: Effects without a protein change, by varcode class name, as VEP SO terms.
NONCODING_TERMS = {"Intronic": "intron_variant", "SpliceDonor": "splice_donor_variant",
                   "SpliceAcceptor": "splice_acceptor_variant",
                   "IntronicSpliceSite": "splice_region_variant&intron_variant",
                   "FivePrimeUTR": "5_prime_UTR_variant", "ThreePrimeUTR": "3_prime_UTR_variant",
                   "ExonLoss": "exon_loss_variant", "AlternateStartCodon": "start_retained_variant",
                   "NoncodingTranscript": "non_coding_transcript_variant"}
#: mhcflurry 2.0.6 reads the ``..._DIR`` name (its docstring says the name without it)
MODELS_ENV = ("MHCFLURRY_DEFAULT_CLASS1_PRESENTATION_MODELS_DIR", "MHCFLURRY_DEFAULT_CLASS1_MODELS")


# --- inner, pVACseq virtualenv: step 1, the model folder for mhcflurry 2.0.6 ------------------

def _percentile(spec: dict, ic50):
    """CDF percentile of mhcflurry 2.3's compact-log-survival-linear-v1 curve at ``ic50``."""
    import numpy as np

    if spec.get("format") != "compact-log-survival-linear-v1" or spec["score_transform"] != "log":
        raise SystemExit(f"unsupported percentile curve: {spec.get('format')}")
    x, y = np.asarray(spec["x"]), np.asarray(spec["y"])
    z = np.log(np.asarray(ic50, dtype=float))
    eta = np.interp(z, x, y)  # logit of the upper-tail probability, linear tails outside
    eta = np.where(z < x[0], y[0] + spec["tail_slopes"][0] * (z - x[0]), eta)
    eta = np.where(z > x[-1], y[-1] + spec["tail_slopes"][1] * (z - x[-1]), eta)
    return 100.0 / (1.0 + np.exp(eta))


def convert_models(args: argparse.Namespace) -> int:
    """Re-save the embedded 2.3.16 ensemble with mhcflurry 2.0.6's own classes."""
    started = time.perf_counter()
    import mhcflurry
    import numpy as np
    import pandas as pd
    from mhcflurry import Class1AffinityPredictor, Class1NeuralNetwork
    from mhcflurry.percent_rank_transform import PercentRankTransform

    src, dst = Path(args.models), Path(args.out)
    if dst.exists():
        shutil.rmtree(dst)
    manifest = pd.read_csv(src / "manifest.csv")
    allele_to_sequence = pd.read_csv(src / "allele_sequences.csv",
                                     index_col=0).iloc[:, 0].to_dict()
    width = 21 * len(next(iter(allele_to_sequence.values())))  # BLOSUM62 vectors
    valid = set(Class1NeuralNetwork.hyperparameter_defaults.defaults)
    dropped: dict[str, object] = {}
    models = []
    for row in manifest.itertuples():
        if row.allele != "pan-class1":
            raise SystemExit(f"{row.model_name}: only pan-allele members are converted")
        hyper = json.loads(row.config_json)["hyperparameters"]
        if hyper.get("normalization", "none") != "none":
            raise SystemExit(f"{row.model_name}: normalization {hyper['normalization']!r} "
                             "has no mhcflurry 2.0.6 counterpart")
        dropped.update({k: v for k, v in hyper.items() if k not in valid})
        kept = {k: v for k, v in hyper.items() if k in valid}
        if not kept["dropout_probability"]:
            # 2.0.6 merges an ensemble into one network (its fast path, which the official
            # models get) only if each member has a "dropout_0" layer; its dropout_probability
            # is a keep probability (Dropout(rate=1 - p)), so 1.0 adds Dropout(rate=0): an
            # identity layer, inactive at prediction anyway
            kept["dropout_probability"] = 1.0
        net = Class1NeuralNetwork(**kept)
        keras_net = net.make_network(
            allele_representations=np.zeros((1, width), dtype="float32"),
            **net.network_hyperparameter_defaults.subselect(net.hyperparameters))
        with np.load(src / f"weights_{row.model_name}.npz") as saved:
            arrays = [saved[f"array_{i}"] for i in range(len(saved.files))]
        weights = []
        for layer in keras_net.layers:
            for target in layer.get_weights():
                array = arrays[len(weights)]
                if type(layer).__name__ == "Dense" and array.ndim == 2:
                    array = array.T  # PyTorch Linear (out, in) -> Keras Dense (in, out)
                if array.shape != target.shape:
                    raise SystemExit(f"{row.model_name} {layer.name}: weight {array.shape} "
                                     f"!= Keras {target.shape}")
                weights.append(array)
        if len(weights) != len(arrays):
            raise SystemExit(f"{row.model_name}: {len(arrays)} saved arrays, "
                             f"{len(weights)} Keras weights")
        keras_net.set_weights(weights)
        net._network = keras_net
        net.update_network_description()
        models.append(net)

    curves = json.loads((src / "percent_ranks.json").read_text())["transforms"]
    edges = np.exp(np.linspace(np.log(1.0), np.log(1e5), 4000))
    mids = np.sqrt(edges[:-1] * edges[1:])
    transforms = {}
    for allele, spec in curves.items():
        transform = PercentRankTransform()
        transform.bin_edges = edges  # searchsorted(edges, v) = i -> cdf[i]
        transform.cdf = np.concatenate([_percentile(spec, edges[:1]), _percentile(spec, mids),
                                        _percentile(spec, edges[-1:]), [100.0]])
        transforms[allele] = transform
    predictor = Class1AffinityPredictor(class1_pan_allele_models=models,
                                        allele_to_sequence=allele_to_sequence,
                                        allele_to_percent_rank_transform=transforms)
    predictor.save(str(dst))
    reloaded = Class1AffinityPredictor.load(str(dst))
    probe = reloaded.predict_to_dataframe(peptides=["SIINFEKL", "SYFPEITHI", "NLVPMVATV"],
                                          allele="HLA-A*02:01", include_percentile_ranks=True)
    info = {"mhcflurry": mhcflurry.__version__, "members": len(models),
            "dropped_hyperparameters": dropped, "dropout_probability_set_to": 1.0, "percentile_alleles": len(transforms),
            "percentile_bins": len(edges), "convert_s": time.perf_counter() - started,
            "probe_hla_a0201": probe[["peptide", "prediction", "prediction_percentile"]]
            .to_dict("records")}
    (dst / "converted_from.json").write_text(json.dumps(
        {"source": str(src), **info}, indent=2, default=str) + "\n")
    print(json.dumps(info, indent=2, default=str))
    return 0


# --- inner, pVACseq virtualenv: step 2, the stand-in for VEP -----------------------------------

def _vep_allele(ref: str, alt: str) -> str:
    """CSQ ``Allele`` as VEP writes it (pVACseq's CsqParser.resolve_alleles in reverse)."""
    if len(ref) != len(alt) and ref[:1] == alt[:1]:
        return alt[1:] or "-"
    return alt


def _span(start: int, end: int) -> str:
    """VEP ``Protein_position`` of residues start..end (1-based, inclusive)."""
    return str(start) if end <= start else f"{start}-{end}"


def csq_entry(ref: str, alt: str, effect) -> tuple[str, str] | None:
    """One VEP CSQ entry (and its first SO term) for a varcode effect on one transcript."""
    from varcode.effects import effect_classes as ec

    tx = getattr(effect, "transcript", None)
    if tx is None or tx.biotype != "protein_coding":
        return None
    wt = tx.protein_sequence or ""
    coding = effect.alternate_effect if isinstance(effect, ec.ExonicSpliceSite) else effect
    fields = dict.fromkeys(CSQ_FIELDS, "")
    position = amino_acids = frameshift = downstream = length_change = ""
    name = type(coding).__name__
    if isinstance(coding, ec.FrameShift):  # also FrameShiftTruncation
        off = coding.aa_mutation_start_offset
        mutant = coding.mutant_protein_sequence
        terms = ["frameshift_variant"]
        position = str(off + 1)
        amino_acids = f"{wt[off] if off < len(wt) else '*'}/X"
        frameshift, downstream = mutant, mutant[off:]
        length_change = str(len(mutant) - len(wt))
    elif isinstance(coding, ec.KnownAminoAcidChange):  # incl. PrematureStop, StopLoss
        off, aa_ref, aa_alt = coding.aa_mutation_start_offset, coding.aa_ref, coding.aa_alt
        if wt[off:off + len(aa_ref)] != aa_ref.rstrip("*"):  # pVACseq would stop on it too
            raise SystemExit(f"{effect}: {aa_ref} is not residue {off + 1} of {tx.protein_id}")
        if isinstance(coding, ec.PrematureStop):
            aa_alt += "*"
            terms = ["stop_gained"]
            shift = len(effect.variant.alt) - len(effect.variant.ref)
            if shift and shift % 3 == 0:  # an in-frame indel that also makes a stop
                terms.append("inframe_insertion" if shift > 0 else "inframe_deletion")
        elif isinstance(coding, ec.StopLoss):
            terms = ["stop_lost"]
        elif len(aa_ref) == len(aa_alt):
            terms = ["missense_variant"]
        else:
            terms = ["inframe_insertion" if len(aa_alt) > len(aa_ref) else "inframe_deletion"]
        if not aa_ref:  # insertion between residues off and off + 1
            position, amino_acids = f"{off}-{off + 1}", f"-/{aa_alt}"
        else:
            position = _span(off + 1, off + len(aa_ref))
            amino_acids = f"{aa_ref}/{aa_alt or '-'}"
    elif isinstance(coding, ec.StartLoss):
        terms, position, amino_acids = ["start_lost"], "1", f"{wt[:1]}/X"
    elif isinstance(coding, ec.Silent):
        terms = ["synonymous_variant"]
        position, amino_acids = str(coding.aa_pos + 1), coding.aa_ref
    elif name in NONCODING_TERMS:
        terms = [NONCODING_TERMS[name]]
    else:
        return None
    if coding is not effect:
        terms.append("splice_region_variant")
    hgvsp = getattr(effect, "short_description", "") if position else ""
    fields.update({
        "Allele": _vep_allele(ref, alt), "Consequence": "&".join(terms),
        "IMPACT": IMPACT.get(terms[0], "MODIFIER"), "SYMBOL": tx.gene_name, "Gene": tx.gene_id,
        "Feature_type": "Transcript", "Feature": tx.transcript_id, "BIOTYPE": tx.biotype,
        "HGVSp": f"{tx.protein_id}:{hgvsp}".replace("=", "%3D") if hgvsp else "",
        "Protein_position": position, "Amino_acids": amino_acids,
        "STRAND": "1" if tx.strand == "+" else "-1", "SYMBOL_SOURCE": "synthetic",
        "WildtypeProtein": wt, "FrameshiftSequence": frameshift,
        "DownstreamProtein": downstream, "ProteinLengthChange": length_change})
    return "|".join(fields[k] for k in CSQ_FIELDS), terms[0]


def _patch_gtfparse() -> None:
    """Make pyensembl's GTF reading work with the gtfparse/polars that pvactools pins.

    gtfparse 2.0.1 applies pyensembl's column converters with ``polars.col(c).apply`` on
    Categorical columns; with polars 0.16.18 two such columns in one ``with_columns`` get
    their string caches mixed up (``normalize_strand`` is handed seqnames: "Invalid strand:
    1"), and pyensembl 2.2.3 wants the pandas DataFrame older gtfparse returned. Same
    converters, one column at a time on plain strings, then a pandas DataFrame.
    """
    import gtfparse
    import polars
    import pyensembl.database

    def read_gtf(path, column_converters=None, **kwargs):
        df = gtfparse.read_gtf(path, **kwargs)
        for column, convert in (column_converters or {}).items():
            df = df.with_columns(polars.col(column).cast(polars.Utf8).apply(
                lambda x, convert=convert: convert(x) if len(x) > 0 else None))
        return df.to_pandas()  # what pyensembl 2.2.3 expects (df.keys(), df[...] as Series)

    pyensembl.database.read_gtf = read_gtf


def _unversioned(fasta: Path, cache: str) -> str:
    """Plain copy of an Ensembl-style FASTA without the ".1" id versions.

    pyensembl 2.2.3 drops the version only from ids starting with "ENS", so SYNT00000011.1
    would never match the GTF's SYNT00000011 (every transcript would be "incomplete").
    """
    out = Path(cache) / fasta.name.removesuffix(".gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(fasta, "rt") as src, open(out, "w") as dst:
        for line in src:
            if line.startswith(">"):
                name, _, rest = line.partition(" ")
                line = f"{name.rsplit('.', 1)[0]} {rest}"
            dst.write(line)
    return str(out)


def annotate(args: argparse.Namespace) -> int:
    """Runs inside the pVACseq virtualenv: index, predict effects, write the CSQ VCF."""
    started = time.perf_counter()
    import pyensembl
    import varcode

    _patch_gtfparse()
    ref = Path(args.reference)
    genome = pyensembl.Genome(
        reference_name="SYNTH", annotation_name="pvacseq-vep-standin", annotation_version=87,
        gtf_path_or_url=str(ref / "reference.gtf.gz"),
        transcript_fasta_paths_or_urls=[_unversioned(ref / "reference.cdna.fa.gz", args.cache)],
        protein_fasta_paths_or_urls=[_unversioned(ref / "reference.pep.fa.gz", args.cache)],
        cache_directory_path=args.cache)
    genome.index()
    indexed = time.perf_counter()
    header = [
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
        f'VEP. Format: {"|".join(CSQ_FIELDS)}">\n',
        f'##VEP="stand-in: varcode {varcode.__version__}, pyensembl {pyensembl.__version__} '
        '(NeoRank scripts/benchmark_pvacseq.py), not Ensembl VEP" cache="SYNTH"\n',
        "##VEP-command-line='vep --vcf --symbol --biotype --tsl --hgvs --terms SO "
        "--plugin Wildtype --plugin Frameshift --plugin Downstream'\n"]
    contigs = set(genome.contigs())  # "1".."4": the VCF's "chr1" is matched without "chr"
    records, entries, variant_ids = 0, Counter(), []
    opener = gzip.open if args.vcf.endswith(".gz") else open
    with opener(args.vcf, "rt") as src, open(args.out, "w") as out:
        for line in src:
            if line.startswith("##"):
                out.write(line)
                continue
            if line.startswith("#"):
                out.writelines(header)
                out.write(line)
                continue
            if args.max_variants and records >= args.max_variants:
                break
            cols = line.rstrip("\n").split("\t")
            records += 1
            csq = []
            for alt in cols[4].split(","):
                variant_ids.append(f"{cols[0]}:{cols[1]}:{cols[3]}>{alt}")
                contig = cols[0] if cols[0] in contigs else cols[0].removeprefix("chr")
                variant = varcode.Variant(contig, int(cols[1]), cols[3], alt, genome)
                for effect in variant.effects():
                    made = csq_entry(cols[3], alt, effect)
                    if made is not None:
                        csq.append(made[0])
                        entries[made[1]] += 1
            if csq:
                info = "" if cols[7] in ("", ".") else cols[7] + ";"
                cols[7] = info + "CSQ=" + ",".join(csq)
            out.write("\t".join(cols) + "\n")
    done = time.perf_counter()
    timing = {"index_s": indexed - started, "annotate_s": done - indexed,
              "total_s": done - started, "records": records,
              "csq_entries": sum(entries.values()), "csq_by_first_term": dict(entries),
              "varcode": varcode.__version__, "pyensembl": pyensembl.__version__,
              "variant_ids": variant_ids}
    Path(args.out + ".json").write_text(json.dumps(timing, indent=2) + "\n")
    return 0


# --- outer: run the three steps, then compare ---------------------------------------------------

def _read_tsv(path: Path):
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=["NA"])


def _proteins(fasta: Path) -> dict[str, str]:
    """Wildtype protein of each transcript (id without version) from an Ensembl pep FASTA."""
    proteins: dict[str, list[str]] = {}
    current: list[str] = []
    with gzip.open(fasta, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                tx = next((f for f in line.split() if f.startswith("transcript:")), "")
                current = proteins.setdefault(tx.removeprefix("transcript:").split(".")[0], [])
            else:
                current.append(line.strip())
    return {tx: "".join(parts) for tx, parts in proteins.items()}


def compare(workdir: Path, epitopes_path: Path, annotated: dict, sample: str,
            thresholds: dict) -> dict:
    """Unique mutant peptides of NeoRank and pVACseq (8-11 aa), and why they differ."""
    import pandas as pd

    ours = _read_tsv(workdir / "results" / sample / "peptides.tsv")
    variants = _read_tsv(workdir / "results" / sample / "variants.tsv")
    theirs = _read_tsv(epitopes_path)
    considered = set(annotated["variant_ids"])
    ours = ours[ours["variant_id"].isin(considered)]
    variants = variants[variants["variant_id"].isin(considered)]
    ours = ours[ours["mutant_peptide"].str.len().between(min(LENGTHS), max(LENGTHS))]
    theirs = theirs[theirs["MT Epitope Seq"].str.len().between(min(LENGTHS), max(LENGTHS))]

    # pVACseq rows carry chromosome, 0-based start, VCF REF and ALT: back to NeoRank's ids
    by_allele: dict[tuple[str, str, str], list[int]] = {}
    for vid in considered:
        chrom, pos, change = vid.split(":")
        ref, alt = change.split(">")
        by_allele.setdefault((chrom, ref, alt), []).append(int(pos))

    def variant_id(row) -> str:
        key = (row["Chromosome"], row["Reference"], row["Variant"])
        start = int(row["Start"])
        hits = [p for p in by_allele.get(key, []) if abs(p - 1 - start) <= 1]
        return f"{key[0]}:{hits[0]}:{key[1]}>{key[2]}" if hits else "?"

    sites = theirs.drop_duplicates(["Chromosome", "Start", "Reference", "Variant"])
    site_ids = {tuple(r[c] for c in ("Chromosome", "Start", "Reference", "Variant")):
                variant_id(r) for _, r in sites.iterrows()}
    theirs = theirs.assign(variant_id=[site_ids[k] for k in zip(
        theirs["Chromosome"], theirs["Start"], theirs["Reference"], theirs["Variant"],
        strict=True)])

    a, b = set(ours["mutant_peptide"]), set(theirs["MT Epitope Seq"])
    union = a | b
    out = {"neorank_unique_mutant_peptides": len(a), "pvacseq_unique_mutant_peptides": len(b),
           "shared": len(a & b), "only_neorank": len(a - b), "only_pvacseq": len(b - a),
           "jaccard": len(a & b) / len(union) if union else 1.0,
           "pvacseq_rows": len(theirs), "pvacseq_variants": theirs["variant_id"].nunique(),
           "pvacseq_unmapped_rows": int((theirs["variant_id"] == "?").sum())}

    proteins = _proteins(workdir / "cohort" / "reference" / "reference.pep.fa.gz")
    status = variants.set_index("variant_id")["status"].to_dict()
    vclass = variants.set_index("variant_id")["variant_class"].fillna("NA").to_dict()
    reason = variants.set_index("variant_id")["reason"].fillna("").to_dict()

    # only in pVACseq: by what NeoRank did with the variant(s) the peptide comes from
    only_p = theirs[theirs["MT Epitope Seq"].isin(b - a)]
    cats: Counter = Counter()
    types: defaultdict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list] = {}
    for pep, rows in only_p.groupby("MT Epitope Seq"):
        sources = set(rows["variant_id"])
        states = {status.get(v, "not in NeoRank table") for v in sources}
        if all(pep in proteins.get(t, "") for t in rows["Transcript"]):
            # pVACseq cuts a window of 2 x (length - 1) + 1 residues; when the change lies
            # closer than that to a protein end the window is shifted inwards and takes in
            # peptides that do not reach the change (all_epitopes.tsv keeps them). NeoRank
            # keeps only peptides that differ from the wildtype at the same place.
            where = set()
            for position, length, kind in zip(rows["Protein Position"],
                                              rows["Transcript Length"], rows["Variant Type"],
                                              strict=True):
                start = int(str(position).split("-")[0])
                where.add("change near the N-terminus" if start <= len(pep) else
                          "change near the C-terminus" if start > int(length) - len(pep) else
                          f"{kind} equal to its wildtype neighbourhood (e.g. an insertion "
                          "duplicating the next residue)")
            why = "wildtype peptide (occurs in the transcript's own protein): " + " / ".join(
                sorted(where))
        elif states == {"filtered"}:
            why = "variant removed by NeoRank's somatic filters: " + (
                "tumour VAF < min_tumor_vaf" if all("tumor_vaf" in reason.get(v, "")
                                                   for v in sources) else "other")
        else:
            why = "variant kept by NeoRank ({}), pVACseq type {}".format(
                "/".join(sorted(states)), "/".join(sorted(set(rows["Variant Type"]))))
        cats[why] += 1
        types[why][rows["Variant Type"].iloc[0]] += 1
        examples.setdefault(why, []).append(pep)
    out["only_pvacseq_by_category"] = dict(cats.most_common())
    out["only_pvacseq_by_category_and_variant_type"] = {k: dict(v) for k, v in types.items()}
    out["examples_only_pvacseq"] = {k: v[:3] for k, v in examples.items()}

    # only in NeoRank: is the variant (and the transcript) in pVACseq's output at all?
    p_variants = set(theirs["variant_id"])
    p_tx = set(zip(theirs["variant_id"], theirs["Transcript"], strict=True))
    only_n = ours[ours["mutant_peptide"].isin(a - b)].drop_duplicates("mutant_peptide")
    cats = Counter()
    examples = {}
    for row in only_n.itertuples():
        vid = row.variant_id
        txs = str(row.transcript_ids).split(";")
        if any(row.mutant_peptide in proteins.get(t, "") for t in txs):
            # e.g. an in-frame indel inside a repeat: the changed peptide equals a wildtype
            # peptide a residue away. NeoRank keeps it flagged (self_match) and ranks it after
            # every other row; pVACseq drops mutant epitopes identical to their wildtype match
            why = (f"equals a wildtype peptide of its own protein ({row.effect}; NeoRank "
                   f"self_match={row.self_match}, ranked last)")
        elif vid not in p_variants:
            why = f"variant absent from pVACseq output ({row.effect}, {vclass.get(vid, 'NA')})"
        elif not any((vid, t) in p_tx for t in txs):
            why = f"transcript absent from pVACseq output ({row.effect})"
        else:
            why = f"variant and transcript in pVACseq output ({row.effect}, " \
                  f"{vclass.get(vid, 'NA')})"
        cats[why] += 1
        examples.setdefault(why, []).append(
            {"variant_id": vid, "protein_change": row.protein_change,
             "mutant_peptide": row.mutant_peptide, "mutation_positions": row.mutation_positions})
    out["only_neorank_by_category"] = dict(cats.most_common())
    out["examples_only_neorank"] = {k: v[:3] for k, v in examples.items()}

    # same models? IC50 and percentile of shared (peptide, allele) pairs
    preds_path = workdir / "results" / sample / "predictions.parquet"
    if preds_path.exists():
        preds = pd.read_parquet(preds_path, columns=["mutant_peptide", "allele",
                                                     "mutant_affinity_nm", "mutant_percentile"])
        preds = preds.drop_duplicates(["mutant_peptide", "allele"])
        mine = theirs[["MT Epitope Seq", "HLA Allele", "MHCflurry MT IC50 Score",
                       "MHCflurry MT Percentile"]].drop_duplicates(["MT Epitope Seq",
                                                                    "HLA Allele"])
        joined = preds.merge(mine, left_on=["mutant_peptide", "allele"],
                             right_on=["MT Epitope Seq", "HLA Allele"])
        ic50 = pd.to_numeric(joined["MHCflurry MT IC50 Score"])
        rel = (ic50 - joined["mutant_affinity_nm"]).abs() / joined["mutant_affinity_nm"]
        pct = (pd.to_numeric(joined["MHCflurry MT Percentile"])
               - joined["mutant_percentile"]).abs()
        out["affinity_check"] = {
            "pairs": len(joined), "max_rel_ic50_diff": float(rel.max()),
            "median_rel_ic50_diff": float(rel.median()),
            "pairs_rel_diff_over_1e-3": int((rel > 1e-3).sum()),
            "max_abs_percentile_diff": float(pct.max()),
            "binders_500nm_neorank": int((joined["mutant_affinity_nm"] < 500).sum()),
            "binders_500nm_pvacseq": int((ic50 < 500).sum())}

    # pVACseq's coverage filter (for filtered.tsv) on the variants NeoRank keeps / filters
    kept = set(variants.loc[variants["status"] != "filtered", "variant_id"])
    per_variant = theirs.drop_duplicates("variant_id").set_index("variant_id")
    dropped, dropped_filtered = [], 0
    for vid, row in per_variant.iterrows():
        checks = [("Normal Depth", ">=", thresholds["normal_cov"]),
                  ("Normal VAF", "<=", thresholds["normal_vaf"]),
                  ("Tumor DNA Depth", ">=", thresholds["tdna_cov"]),
                  ("Tumor DNA VAF", ">=", thresholds["tdna_vaf"])]
        fails = [col for col, op, cut in checks if pd.notna(row.get(col)) and not (
            float(row[col]) >= cut if op == ">=" else float(row[col]) <= cut)]
        if fails and vid in kept:
            dropped.append({"variant_id": vid, "fails": fails})
        dropped_filtered += bool(fails) and vid not in kept
    out["coverage_filter_drops_neorank_kept_variants"] = len(dropped)
    out["pvacseq_variants_neorank_filtered"] = len(set(per_variant.index) - kept)
    out["coverage_filter_drops_neorank_filtered_variants"] = dropped_filtered
    out["coverage_filter_examples"] = dropped[:5]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["annotate"]:
        parser = argparse.ArgumentParser(prog="benchmark_pvacseq.py annotate")
        for name in ("--reference", "--vcf", "--cache", "--out"):
            parser.add_argument(name, required=True)
        parser.add_argument("--max-variants", type=int, default=0)
        return annotate(parser.parse_args(argv[1:]))
    if argv[:1] == ["convert-models"]:
        parser = argparse.ArgumentParser(prog="benchmark_pvacseq.py convert-models")
        for name in ("--models", "--out"):
            parser.add_argument(name, required=True)
        return convert_models(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="a finished scripts/benchmark.py run folder")
    parser.add_argument("--pvac-python", default="/work/pvac-venv/bin/python")
    parser.add_argument("--models", type=Path, default=EMBEDDED_MODELS,
                        help="the MHCflurry 2.3 model folder the NeoRank run used")
    parser.add_argument("--threads", type=int, default=2, help="pvacseq run -t")
    parser.add_argument("--max-variants", type=int, default=0,
                        help="smoke run: only the first N VCF records (0: all)")
    parser.add_argument("--out-name", default="",
                        help="output subfolder of --workdir (default pvacseq[-N])")
    parser.add_argument("--compare-only", action="store_true",
                        help="do not run anything again: re-compare the earlier output")
    parser.add_argument("--neorank-run", type=Path, default=None,
                        help="take NeoRank's end-to-end time from this scripts/benchmark.py "
                        "folder instead (a later run of the same cohort: its VCF must be "
                        "byte-identical)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "scripts"))
    import yaml
    from benchmark import timed

    workdir = args.workdir.resolve()
    result = json.loads((workdir / "benchmark.json").read_text())
    sheet = _read_tsv(workdir / "config" / "samples.tsv").iloc[0]
    sample, tumor, normal = sheet["sample"], sheet["tumor_sample"], sheet["normal_sample"]
    alleles = [a.strip() for a in Path(sheet["hla_alleles"]).read_text().split() if a.strip()]
    somatic = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["somatic"]
    thresholds = {"normal_cov": somatic["min_normal_depth"], "tdna_cov": somatic["min_tumor_depth"],
                  "tdna_vaf": somatic["min_tumor_vaf"], "normal_vaf": somatic["max_normal_vaf"]}
    out_dir = workdir / (args.out_name or (f"pvacseq-{args.max_variants}" if args.max_variants
                                           else "pvacseq"))
    out_dir.mkdir(exist_ok=True)
    models = out_dir / "mhcflurry-2.0.6-models"
    vcf = out_dir / f"{sample}.vep-standin.vcf"
    run_dir = out_dir / "run"
    pvac_bin = Path(args.pvac_python).parent
    env = dict(os.environ, PATH=f"{pvac_bin}{os.pathsep}{os.environ.get('PATH', '')}",
               TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               **dict.fromkeys(MODELS_ENV, str(models)))
    script = str(Path(__file__).resolve())
    cmd = [str(pvac_bin / "pvacseq"), "run", str(vcf), tumor, ",".join(alleles), "MHCflurry",
           str(run_dir), "-e1", ",".join(map(str, LENGTHS)), "-b", "500",
           "-t", str(args.threads), "--normal-sample-name", normal, "--pass-only", "-d", "full",
           "--normal-cov", str(thresholds["normal_cov"]),
           "--tdna-cov", str(thresholds["tdna_cov"]),
           "--tdna-vaf", str(thresholds["tdna_vaf"]),
           "--normal-vaf", str(thresholds["normal_vaf"])]
    steps_path = out_dir / "steps.json"
    if args.compare_only:
        steps = json.loads(steps_path.read_text())
    else:
        steps = {}
        print(f"convert-models -> {models}", flush=True)
        steps["convert_models"] = timed(
            [args.pvac_python, script, "convert-models", "--models", str(args.models.resolve()),
             "--out", str(models)], out_dir / "convert-models.log", env)
        print(f"annotate (stand-in for VEP) -> {vcf}", flush=True)
        steps["annotate"] = timed(
            [args.pvac_python, script, "annotate", "--reference", str(workdir / "cohort" /
                                                                      "reference"),
             "--vcf", str(sheet["paired_vcf"]), "--cache", str(out_dir / "cache"),
             "--out", str(vcf), "--max-variants", str(args.max_variants)],
            out_dir / "annotate.log", env)
        if run_dir.exists():  # pvacseq skips steps whose output exists: always start clean
            shutil.rmtree(run_dir)
        print(f"pvacseq: {' '.join(cmd)}", flush=True)
        steps["pvacseq"] = timed(cmd, out_dir / "pvacseq.log", env)
        steps["loadavg_after_pvacseq"] = os.getloadavg()
        steps_path.write_text(json.dumps(steps, indent=2) + "\n")
    annotated = json.loads(Path(str(vcf) + ".json").read_text())
    converted = json.loads((models / "converted_from.json").read_text())
    epitopes = run_dir / "MHC_Class_I" / f"{tumor}.MHC_I.all_epitopes.tsv"
    overlap = compare(workdir, epitopes, annotated, sample, thresholds)
    filtered = run_dir / "MHC_Class_I" / f"{tumor}.MHC_I.filtered.tsv"
    if filtered.exists():
        overlap["pvacseq_filtered_tsv_rows"] = len(_read_tsv(filtered))
    neorank_s = result["e2e"]["wall_s"]
    if args.neorank_run:
        other = args.neorank_run.resolve()
        ours = sorted((workdir / "cohort").glob("*.paired.vcf.gz"))
        theirs = sorted((other / "cohort").glob("*.paired.vcf.gz"))
        if not ours or [p.read_bytes() for p in ours] != [p.read_bytes() for p in theirs]:
            raise SystemExit(f"{other}: not the same cohort as {workdir} (the paired VCFs differ)")
        neorank_s = json.loads((other / "benchmark.json").read_text())["e2e"]["wall_s"]
    pvac_s = steps["pvacseq"]["wall_s"]
    report = {"variants": result["variants"], "max_variants": args.max_variants,
              "neorank_e2e_s": neorank_s, "neorank_run": str(args.neorank_run or workdir),
              **steps,
              "annotate_inner": {k: v for k, v in annotated.items() if k != "variant_ids"},
              "models": {k: v for k, v in converted.items() if k != "probe_hla_a0201"},
              "pvacseq_command": cmd, "overlap": overlap,
              "speed_ratio": pvac_s / neorank_s,
              "speed_ratio_with_standin_vep": (pvac_s + steps["annotate"]["wall_s"]) / neorank_s,
              "loadavg_after": os.getloadavg()}
    (out_dir / "comparison.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    print(f"variants={result['variants']} neorank_s={neorank_s:.1f} pvacseq_s={pvac_s:.1f} "
          f"pvacseq_peak_rss_mib={steps['pvacseq']['tree_peak_rss_mib']:.0f} "
          f"vep_standin_s={steps['annotate']['wall_s']:.1f} jaccard={overlap['jaccard']:.3f} "
          f"speed_ratio={pvac_s / neorank_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
