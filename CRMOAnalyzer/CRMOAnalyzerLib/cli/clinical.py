"""``crmo-analyzer clinical``: enter clinical items and per-lesion findings; show scores and red flags."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  crmo-analyzer clinical result/study.json                      (show items, red flags and scores)
  crmo-analyzer clinical result/study.json --crp 8 --blood-count normal --temperature 37.1 --bone-pain yes
  crmo-analyzer clinical result/study.json --set biopsy=not_done --set malignancy=no
  crmo-analyzer clinical result/study.json --finding "#2:marrow_edema=yes" --finding "#2:signal_extent=25-50%"
  (#2: the lesion the report lists as #2, quoted for the shell; lesion2 or "Lesion 2" work too, and so does
   its id, e.g. L7, as older reports name it)
  crmo-analyzer clinical result/study.json --eular-weights weights.json --json

Clinical items (a missing item means 'not entered', never 'normal'): see resources/clinical.json.
"""


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "clinical", help="enter clinical items and lesion findings; show criteria, scores and red flags",
        description="Record clinical items (Study.clinical) and per-lesion findings in STUDY.json (rewritten "
                    "atomically, or written to --out), then print the red flags and the criteria and scores.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, metavar="STUDY.json")
    parser.add_argument("--crp", metavar="MG_L", help="C-reactive protein in mg/L")
    parser.add_argument("--esr", metavar="MM_H", help="erythrocyte sedimentation rate in mm/h")
    parser.add_argument("--blood-count", choices=("normal", "abnormal"))
    parser.add_argument("--temperature", metavar="DEG_C", help="body temperature in degrees Celsius")
    for name in ("fever", "night-pain", "bone-pain", "anemia"):
        parser.add_argument(f"--{name}", choices=("yes", "no"))
    parser.add_argument("--biopsy", choices=("not_done", "sterile_inflammation", "infection", "malignancy", "lch", "other"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any clinical item")
    parser.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a clinical item")
    parser.add_argument("--finding", action="append", default=[], metavar="LESION:KEY=VALUE",
                        help='a lesion finding, e.g. "#3:cortical_destruction=yes" (LESION: its label as the report '
                             'gives it, #3 or "Lesion 3", or its id; KEY=  clears it)')
    parser.add_argument("--eular-weights", type=Path, metavar="FILE", help="EULAR/ACR 2025 item weights (not bundled)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the updated study here instead of STUDY.json")
    parser.add_argument("--json", action="store_true", help="print scores and red flags as JSON")
    parser.set_defaults(func=run)


def _finding_value(key: str, text: str, where: str):
    from ..errors import CRMOInputError  # noqa: PLC0415
    from ..model import FINDINGS  # noqa: PLC0415

    allowed = FINDINGS.get(key)
    if allowed is None:
        raise CRMOInputError(where, f"unknown finding {key!r}; known: {', '.join(FINDINGS)}")
    if text == "":
        return None
    if allowed is bool:
        word = text.lower()
        if word in ("yes", "true", "1", "present"):
            return True
        if word in ("no", "false", "0", "absent"):
            return False
        raise CRMOInputError(where, f"{key} must be yes or no, not {text!r}")
    if allowed is str:
        return text
    if text not in allowed:
        raise CRMOInputError(where, f"{key} must be one of {', '.join(allowed)}, not {text!r}")
    return text


def run(args: argparse.Namespace) -> int:
    from ..reading.conditions import check_clinical, parse_clinical_value  # noqa: PLC0415
    from ..errors import CRMOInputError  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415
    from ..reading.read import read  # noqa: PLC0415
    from ..reading.scores import load_weights  # noqa: PLC0415

    study = load_study(args.study)
    weights = load_weights(args.eular_weights) if args.eular_weights else None
    entered = [("crp_mg_l", args.crp, "--crp"), ("esr_mm_h", args.esr, "--esr"),
               ("blood_count_normal", args.blood_count, "--blood-count"), ("temperature_c", args.temperature, "--temperature"),
               ("fever", args.fever, "--fever"), ("night_pain", args.night_pain, "--night-pain"),
               ("bone_pain", args.bone_pain, "--bone-pain"), ("anemia", args.anemia, "--anemia"),
               ("biopsy", args.biopsy, "--biopsy")]
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CRMOInputError("--set", f"expected KEY=VALUE, not {pair!r}")
        entered.append((key.strip(), value, "--set"))
    changed = False
    clinical = dict(study.clinical)
    for key, text, option in entered:
        if text is not None:
            clinical[key] = parse_clinical_value(key, str(text), option)
            changed = True
    for key in args.unset:
        changed |= clinical.pop(key, None) is not None
    check_clinical(clinical, str(args.study))
    from ..model import lesion_labels  # noqa: PLC0415

    labels = lesion_labels(study.lesions)
    for spec in args.finding:
        lesion_id, sep, rest = spec.partition(":")
        key, sep2, value = rest.partition("=")
        if not sep or not sep2:
            raise CRMOInputError("--finding", f"expected LESION:KEY=VALUE, not {spec!r}")
        try:
            lesion = study.lesion(lesion_id.strip())
        except KeyError:
            known = ", ".join(f"{label} ({i})" for i, label in labels.items())
            raise CRMOInputError(args.study, f"no lesion {lesion_id.strip()!r} (lesions: {known or 'none'})") from None
        parsed = _finding_value(key.strip(), value.strip(), "--finding")
        if parsed is None:
            lesion.findings.pop(key.strip(), None)
        else:
            lesion.findings[key.strip()] = parsed
        changed = True
    study.clinical = clinical
    reading = read(study, weights=weights)
    results, flags = reading.scores, reading.red_flags
    if changed or args.out is not None:
        target = args.out or args.study
        reading.save(target)
        if not args.quiet:
            print(f"wrote {target}", file=sys.stderr)
    if args.json:
        print(json.dumps({"clinical": study.clinical, "red_flags": flags.to_dict(),
                          "scores": [r.to_dict() for r in results]}, indent=2, ensure_ascii=False))
    elif not args.quiet:
        print("CLINICAL ITEMS: " + (", ".join(f"{k} {v}" for k, v in sorted(study.clinical.items())) or "none entered"))
        print("RED FLAGS")
        print("\n".join(flags.lines()))
        print("CRITERIA AND SCORES")
        print("\n".join(f"- {r.line()}" for r in results))
    return 0
