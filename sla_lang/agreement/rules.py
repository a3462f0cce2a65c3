"""Rules of the agreement target and of `sla sign` / `sla verify` (SLA800–SLA819).

SLA800–SLA809: building the document (PDF renderer, fonts, text the document cannot show).
SLA810–SLA819: signing and verifying the PDF.
"""

from __future__ import annotations

from ..diagnostics import Severity, define_rule

PDF_EXTRA_MISSING = define_rule(
    "SLA800",
    "pdf-renderer-missing",
    Severity.ERROR,
    "The PDF cannot be rendered because Typst or pyHanko is not installed.",
    explanation="The PDF of the agreement is typeset with Typst (the `typst` package, a compiled "
    "engine) and receives its signature fields from pyHanko; both come with the `pdf` extra "
    "(`pip install 'sla-lang[pdf]'`). When the PDF was asked for with "
    "`--format pdf` this is an error; when it was only part of the default formats the PDF is "
    "skipped and this is a warning, and the Markdown and HTML are still written.",
    bad="$ sla build policies/acme.sla --target agreement --format pdf -o build/\n"
    "(on a machine without the pdf extra)",
    good="$ pip install 'sla-lang[pdf]'\n$ sla build policies/acme.sla --target agreement --format pdf -o build/",
)

NO_JAPANESE_FONT = define_rule(
    "SLA801",
    "no-japanese-font",
    Severity.ERROR,
    "The document contains Japanese text but no installed font has Japanese glyphs.",
    explanation="A PDF rendered without a Japanese font shows empty boxes instead of the text, "
    "while still looking right to copy-and-paste and to `pdftotext`. sla refuses to write such a "
    "PDF. Install a Japanese font with the operating system's package manager: on Debian and "
    "Ubuntu `apt-get install fonts-noto-cjk` (what scripts/install.sh installs: Noto Sans CJK JP, "
    "which has a bold face) or `fonts-ipaexfont` (one weight only). `fc-list :lang=ja` lists the "
    "fonts that qualify. As with SLA800, this is a "
    "warning (and the PDF is skipped) unless `--format pdf` was given.",
    bad='agreement "営業・マーケティングSLA" {   # built on a machine with no Japanese font',
    good="$ sudo apt-get install fonts-noto-cjk",
)

MISSING_GLYPH = define_rule(
    "SLA802",
    "missing-glyph",
    Severity.ERROR,
    "Some characters of the document have no glyph in any installed font.",
    explanation="Typst would draw an empty box (the `.notdef` glyph) for these characters, "
    "so the signed document would not show what the policy says. Install a font that covers "
    "them (for example Debian's `fonts-noto-core` or `fonts-noto-color-emoji`), or write the text "
    "without them. As with SLA800, this is a warning (and the PDF is skipped) unless "
    "`--format pdf` was given.",
    bad='stage mql "MQL \U0001f525" {      # an emoji no installed font has',
    good='stage mql "MQL (hot)" {',
)

INVISIBLE_CHARACTER = define_rule(
    "SLA803",
    "invisible-character",
    Severity.WARNING,
    "A text contains an invisible control or direction mark; the document shows it as [U+XXXX].",
    explanation="Direction marks (U+200E, U+200F, U+061C), bidirectional controls and other "
    "control characters are invisible but can change how the surrounding text is displayed. A "
    "signed agreement must show exactly what the policy says, so every format of the document "
    "replaces each such character with its visible code, e.g. `[U+200F]`. Delete the character "
    "from the policy (search for its code point) unless it is really wanted.",
    bad='party sales "Sales\u200f" {      # an invisible RIGHT-TO-LEFT MARK after the label',
    good='party sales "Sales" {',
)

PDF_RENDER_FAILED = define_rule(
    "SLA804",
    "pdf-render-failed",
    Severity.ERROR,
    "Typst or pyHanko failed while producing the PDF.",
    explanation="The renderer raised an error or produced a PDF in which the signature areas "
    "could not be found. The message carries the renderer's own words. This usually means a "
    "broken installation of the `typst` package or of the fonts; `SLA_DEBUG=1` prints the Python "
    "traceback.",
    bad="$ sla build policies/acme.sla -t agreement --format pdf -o build/   # with a broken font file",
    good="$ bash scripts/install.sh && sla build policies/acme.sla -t agreement --format pdf -o build/",
)

PDF_TABLES_SUMMARISED = define_rule(
    "SLA805",
    "pdf-tables-summarised",
    Severity.WARNING,
    "The policy's tables are too long for one PDF: each shows its first rows and how many it leaves out.",
    explanation="Typst keeps every laid-out table cell in memory until the PDF is written (about "
    "200 kB a row): the tables of a 1,000-stage policy took 1.5 GB, those of 10,000 stages would "
    "take 15 GB. When the agreement's tables have more rows in all than a PDF is typeset with "
    "(`PDF_TABLE_ROWS` in `sla_lang/agreement/pdf.py`), each table of the PDF shows its first "
    "rows and ends with a row saying how many it leaves out, and the PDF says so under its title. "
    "The Markdown and HTML forms of the agreement (`--format md,html`) always list every row; the "
    "fingerprint on every page ties the PDF to the same policy. Split a policy this large into "
    "several (one per product line or region) to sign each in full.",
    bad="$ sla build generated_1000_stages.sla -t agreement --format pdf -o build/",
    good="$ sla build policies/emea/ policies/apac/ -t agreement -o build/   # one policy per region",
)

UNTRANSLATED_TEXT = define_rule(
    "SLA809",
    "untranslated-text",
    Severity.WARNING,
    "The document shows a text of the policy that is not in the document's language.",
    explanation="The fixed wording of the agreement comes in English and Japanese; the texts of "
    "the policy (labels, descriptions, enum options …) are written in the policy's `language`. "
    "Built in another language (`--lang ja` for an English policy), the document would mix "
    "languages (\"Lead scoreが50以上\"): give each text its wording in a `translation ja { "
    "\"Lead score\" \"リードスコア\" }` block. An enum option without a label is shown as its "
    "value, which reads as a machine value when it is an identifier (`no_authority`) or, in a "
    "Japanese document, has no Japanese in it (`won`): give it a label in the enum "
    "(`enum [\"won\" \"受注\", \"lost\" \"失注\"]`). Each text is named once, where it is "
    "declared.",
    bad='language en\n…\nproperty deal_outcome "Deal outcome" enum ["won", "lost"]\n'
    '$ sla build policy.sla -t agreement --lang ja',
    good='property deal_outcome "Deal outcome" enum ["won" "Won", "lost" "Lost"]\n'
    'translation ja {\n  "Deal outcome" "受注/失注"\n  "Won" "受注"\n  "Lost" "失注"\n}',
)

UNREADABLE_PDF = define_rule(
    "SLA810",
    "unreadable-pdf",
    Severity.ERROR,
    "The file is missing or is not a PDF that can be read.",
    explanation="`sla sign` and `sla verify` read the agreement PDF written by `sla build`. The "
    "file does not exist, cannot be read, or is not a well-formed PDF (for example because it was "
    "truncated or edited by hand).",
    bad="$ sla verify build/agreement.md",
    good="$ sla verify build/agreement.pdf",
)

UNKNOWN_SIGNATURE_FIELD = define_rule(
    "SLA811",
    "unknown-signature-field",
    Severity.ERROR,
    "The PDF has no signature field of that name.",
    explanation="The agreement PDF has one empty signature field per party, named after the "
    "party's identifier in the policy (`party sales \"Sales\"` gives the field `sales`). "
    "`--field` must name one of them; the message lists the fields the PDF has.",
    bad="$ sla sign agreement.pdf --key k.pem --cert c.pem --field Sales",
    good="$ sla sign agreement.pdf --key k.pem --cert c.pem --field sales",
)

FIELD_ALREADY_SIGNED = define_rule(
    "SLA812",
    "field-already-signed",
    Severity.ERROR,
    "That party's signature field is signed already.",
    explanation="Each party signs once. Signing a field again would hide the first signature. "
    "If the first signature was a mistake, build the PDF again and sign the new one.",
    bad="$ sla sign agreement.pdf --key k.pem --cert c.pem --field sales   # a second time",
    good="$ sla verify agreement.pdf    # shows who signed which field",
)

UNUSABLE_SIGNING_KEY = define_rule(
    "SLA813",
    "unusable-signing-key",
    Severity.ERROR,
    "The private key or the certificate cannot be used to sign.",
    explanation="`--key` must be a PEM or DER private key (encrypted keys take their passphrase "
    "from the `SLA_KEY_PASSPHRASE` environment variable or a prompt) and `--cert` the PEM or DER "
    "certificate of that same key. The message says which file could not be read, or that the "
    "two do not belong together. `sla sign` also refuses a certificate that has expired or is "
    "not valid yet (ask for a current certificate), and `sla verify` reports a `--trust` file it "
    "cannot read with this code.",
    bad="$ sla sign agreement.pdf --key someone-elses-key.pem --cert my-cert.pem --field sales",
    good="$ sla sign agreement.pdf --key my-key.pem --cert my-cert.pem --field sales",
)

SIGNATURE_NOT_INTACT = define_rule(
    "SLA814",
    "signature-not-intact",
    Severity.ERROR,
    "A signature does not match the document: the PDF was changed after it was signed.",
    explanation="The bytes a signature covers no longer hash to the signed value, the signature "
    "value itself is invalid, or the document was modified after signing in a way a signature "
    "does not allow. The signed agreement cannot be trusted; go back to the copy that was "
    "signed.",
    bad="$ sla verify agreement-edited-after-signing.pdf",
    good="$ sla verify agreement.pdf",
)

SIGNER_NOT_TRUSTED = define_rule(
    "SLA815",
    "signer-not-trusted",
    Severity.ERROR,
    "A signer's certificate does not chain to any certificate given with --trust.",
    explanation="`sla verify --trust CERT` checks that every signer's certificate was issued by "
    "(or is) one of the trusted certificates, offline: nothing is fetched from the network. "
    "Without `--trust` the signer's identity is reported but not judged.",
    bad="$ sla verify agreement.pdf --trust some-other-ca.pem",
    good="$ sla verify agreement.pdf --trust company-ca.pem",
)

FINGERPRINT_MISMATCH = define_rule(
    "SLA816",
    "fingerprint-mismatch",
    Severity.ERROR,
    "The fingerprint the PDF records (as signed) is missing, was changed after signing, or is not the policy's.",
    explanation="Every agreement PDF records the SHA-256 fingerprint of the policy it was built "
    "from (in its metadata and in the footer of every page). `sla verify` reads it, and the "
    "version, from the revision of the PDF each signature covers, never from a later update: a "
    "fingerprint or version rewritten after signing, signatures over different fingerprints, or "
    "a PDF that records no fingerprint at all are errors. `sla verify --policy FILE` also "
    "compares the signed fingerprint with the fingerprint of FILE: a mismatch means the signed "
    "document and the policy in the repository say different things (or the PDF was not built "
    "by sla).",
    bad="$ sla verify agreement-v1.pdf --policy policies/acme.sla   # the policy changed since v1",
    good="$ sla verify agreement-v2.pdf --policy policies/acme.sla",
)

UNSIGNED_FIELD = define_rule(
    "SLA817",
    "unsigned-field",
    Severity.ERROR,
    "A party has no signature field in the PDF, or (with `--require-all`) has not signed yet.",
    explanation="An agreement PDF has one signature field per `party` of its policy, named after "
    "the party. A PDF without any signature field, or (with `--policy`) without the field of a "
    "party of the policy, is not that agreement, whatever fingerprint its metadata claims: that "
    "is an error in every case. With `--require-all` every party's field (without `--policy`: "
    "every field of the PDF) must also carry a signature; without it unsigned fields are only "
    "listed.",
    bad="$ sla verify agreement.pdf --require-all     # Sales has not signed",
    good="$ sla sign agreement.pdf --key k.pem --cert c.pem --field sales",
)

DATA_AFTER_END_OF_FILE = define_rule(
    "SLA818",
    "data-after-end-of-file",
    Severity.ERROR,
    "The PDF has bytes after its end (%%EOF) that are not part of any revision.",
    explanation="A PDF ends with `%%EOF`; every later change is an incremental update with its "
    "own objects, cross-reference section and `%%EOF`. Bytes after the last `%%EOF` (or between "
    "two revisions) that are not such an update belong to no revision and are covered by no "
    "signature, yet readers that repair damaged files may take objects from them, so the "
    "document shown could differ from the one signed. No PDF writer produces them (white space "
    "is allowed). `sla verify` reports them as an error even when every signature is intact, "
    "and `sla sign` refuses to sign such a file. Go back to the PDF as built or as signed.",
    bad="$ cat agreement.pdf extra.bin > agreement-2.pdf && sla verify agreement-2.pdf",
    good="$ sla verify agreement.pdf",
)

SIGNER_NOT_PARTY = define_rule(
    "SLA819",
    "signer-not-party",
    Severity.ERROR,
    "A signature cannot be tied to its party: signed by someone else, or one signer for two parties.",
    explanation="Each party's lead signs in the party's own field. `sla verify --policy` "
    "compares each signing certificate with the identity of the party's lead in the policy "
    "(`email`: the certificate's subject e-mail address or subjectAltName; `certificate`: its "
    "SHA-256 fingerprint) and reports a signature by anyone else, a signed field that is no "
    "party of the policy, and two fields of the same name. With or without `--policy`, one "
    "certificate, key or e-mail address signing the fields of two parties is an error: one "
    "person cannot agree with themselves; `sla sign` refuses to sign a second field with the "
    "certificate of the first. When the policy gives a party's lead neither `email` nor "
    "`certificate`, the signature cannot be checked: that is a warning here (and SLA408 in "
    "`sla check`), which `--require-all` turns into a failure.",
    bad='party sales "Sales" {\n  lead "Kenji Sato" email "kenji@example.com"\n}\n'
    "$ sla sign agreement.pdf --key aiko.key --cert aiko.pem --field sales   # Aiko signs for Sales",
    good="$ sla sign agreement.pdf --key kenji.key --cert kenji.pem --field sales",
)
