"""The input data contract (PRODUCT.md section 6): files, columns, codes and quarantine rules.

Everything a loader needs to know about *what* an extract must contain lives here as data;
:mod:`hkc.extract.load` knows *how* to check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Column",
    "CONTRACT",
    "ALIAS_COLUMNS",
    "FILE_COLUMNS",
    "REQUIRED_FILES",
    "OPTIONAL_FILES",
    "SEX_CODES",
    "ETHNICITY_CODES",
    "OFFICER_ETHNICITY_CODES",
    "ROLE_CODES",
    "SOURCE_CODES",
    "OUTCOME_CODES",
    "GRADE_PATTERN",
    "RULES",
    "FILE_ERRORS",
]

SEX_CODES = ("F", "M", "X", "U")
ETHNICITY_CODES = ("Asian", "Black", "Mixed", "White", "Other", "Not stated")
OFFICER_ETHNICITY_CODES = ("IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "IC9")
ROLE_CODES = ("offender", "suspect", "victim", "witness", "subject")
SOURCE_CODES = ("police", "education", "social_care", "health", "youth_justice")
OUTCOME_CODES = ("convicted", "charged", "cautioned", "pending", "nfa")
GRADE_PATTERN = r"^[A-E][1-5]$"
AGE_BAND_PATTERN = r"^\d{1,3}(-\d{1,3}|\+)$"

Kind = Literal["id", "date", "code", "bool", "grade", "text", "count", "age_band"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    codes: tuple[str, ...] | None = None  # for kind "code"; None for `type` (from the catalogue)


CONTRACT: dict[str, tuple[Column, ...]] = {
    "people": (
        Column("person_id", "id", True),
        Column("date_of_birth", "date", True),
        Column("sex", "code", True, SEX_CODES),
        Column("ethnicity", "code", True, ETHNICITY_CODES),
        Column("officer_ethnicity", "code", False, OFFICER_ETHNICITY_CODES),
        Column("area", "text", False),
        Column("in_care", "bool", False),
        Column("open_to_social_care", "bool", False),
    ),
    "events": (
        Column("event_id", "id", True),
        Column("person_id", "id", True),
        Column("date", "date", True),
        Column("type", "code", True, None),
        Column("role", "code", True, ROLE_CODES),
        Column("source", "code", True, SOURCE_CODES),
        Column("outcome", "code", False, OUTCOME_CODES),
        Column("grade", "grade", False),
        Column("occurrence_id", "text", False),
        Column("location_id", "text", False),
    ),
    "population": (
        Column("area", "text", True),
        Column("age_band", "age_band", True),
        Column("sex", "code", True, SEX_CODES),
        Column("ethnicity", "code", True, ETHNICITY_CODES),
        Column("count", "count", True),
    ),
}
REQUIRED_FILES = ("people", "events")
OPTIONAL_FILES = ("population", "aliases")

# The optional ``aliases`` file: ids the source system re-keyed or merged (``old_id`` is now ``new_id``).  Kept
# beside CONTRACT, not in it: CONTRACT is what a person's record holds, this is how their ids changed.
# Its rows are checked against each other and against people by :mod:`hkc.extract.aliases`.
ALIAS_COLUMNS: tuple[Column, ...] = (
    Column("old_id", "id", True),
    Column("new_id", "id", True),
    Column("date", "date", True),
    Column("reason", "text", False),
)
FILE_COLUMNS: dict[str, tuple[Column, ...]] = {**CONTRACT, "aliases": ALIAS_COLUMNS}  # every file the loader reads

# Quarantine rules: name -> message template.  Tests import these and compare.  ``{value}`` is the
# offending value as shown in rejects (surrounding whitespace removed, control characters escaped,
# cut to 60 characters); for ``malformed_row`` it is the start of the line itself.
RULES: dict[str, str] = {
    "malformed_row": "the line has {fields} fields where the header has {expected}; check quoting and delimiters",
    "blank_row": "the line is blank",
    "missing_value": "required value is empty",
    "bad_date": "'{value}' is not a date (expected YYYY-MM-DD)",
    "future_date": "{value} is after the extract date {extract_date}",
    "before_birth": "event date {value} is before the person's date of birth {date_of_birth}",
    "unknown_code": "'{value}' is not a valid {column}; expected one of: {codes}",
    "bad_grade": "'{value}' is not an intelligence grade (expected a letter A-E then a digit 1-5, e.g. B2)",
    "bad_bool": "'{value}' is not true or false",
    "bad_count": "'{value}' is not a whole number of people",
    "bad_age_band": "'{value}' is not an age band (expected e.g. 10-14 or 25+)",
    "duplicate_person_id": "person_id '{value}' already appears at row {first_row}; later copies are quarantined",
    "duplicate_event": "(event_id '{value}', person_id '{person_id}') already appears at row {first_row}",
    "unknown_person": "person_id '{value}' is not in people; add the person or correct the id",
    "person_rejected": "person_id '{value}' was quarantined in people (row {first_row}); fix that row",
    "control_character": ("'{value}' holds a control character (shown escaped), which reports and workbooks cannot "
                          "hold; remove it at source"),
    # the aliases file (hkc.extract.aliases)
    "alias_to_itself": "old_id and new_id are both '{value}'; an alias links two different ids",
    "duplicate_alias": "'{value}' to '{new_id}' already appears at row {first_row}; later copies are quarantined",
    "alias_conflict": ("old_id '{value}' is also linked to '{other_id}' at row {other_row}; an id is re-keyed to one "
                       "id only: keep the right row"),
    "alias_cycle": "old_id '{value}' leads back to itself ({cycle}); two ids cannot each be the other's new id",
    "alias_chain": ("new_id '{value}' is itself re-keyed to '{next_id}' at row {next_row}; give the latest id "
                    "(old_id '{old_id}', new_id '{next_id}')"),
    "alias_unknown_new": "new_id '{value}' is not in people; an alias must lead to a person in this extract",
    "alias_new_rejected": "new_id '{value}' was quarantined in people (row {first_row}); fix that row",
    "alias_old_in_use": ("old_id '{value}' still holds events in this extract (events row {first_row}); a re-keyed "
                         "or merged id should hold none: move its events to the new id, or remove the alias"),
}

# File-level problems: name -> one-line message template for :class:`hkc.errors.ExtractError`.
# Each names the folder or file (and the column where there is one) and says what to do.
FILE_ERRORS: dict[str, str] = {
    "no_folder": "{folder}: no such folder; pass the folder holding people.csv and events.csv",
    "empty_folder": "{folder}: the folder is empty; put people and events files in it ({expected})",
    "missing_file": "{folder}: {name} file not found; expected {expected}",
    "unsupported_file": "{folder}: found {found}, but hkc reads {expected}; export {name} as CSV or Parquet",
    "both_formats": "{folder}: both {first} and {second} exist; keep one",
    "not_a_file": "{folder}: {file} is a folder, not a file; put the {name} export there as a file",
    "not_regular": ("{folder}: {file} is {kind}, not a regular file, so hkc will not read it; put the {name} "
                    "export there as a file, or remove {file}"),
    "empty_file": "{file} is empty (no header line); re-export it with a header row",
    "no_rows": "{file} has a header but no rows; check the export",
    "utf16": "{file} is UTF-16 text; re-export it as UTF-8 (in Excel: Save As, 'CSV UTF-8')",
    "not_csv": "{file} is {kind}, not CSV text; {advice}",
    "not_text": "{file} holds NUL bytes in its header line, so it is not text; export it as CSV UTF-8",
    "not_utf8": "{file} is not UTF-8 text (line {line}, byte 0x{byte}); re-export it as UTF-8",
    "not_utf8_column": "{file}: column '{column}' is not UTF-8 text; re-export it as UTF-8",
    "header_unreadable": "{file}: the header line {problem}; check the first line of the file",
    "nul_byte": ("{file} line {line}: the line holds a NUL byte (\\x00), which is not text and can join or split "
                 "rows; re-export the file as CSV UTF-8 (NUL bytes come from a damaged copy or a binary export)"),
    "unclosed_quote": ("{file} line {line}: a '\"' opens a quoted value that is never closed, so everything from "
                       "there to the end of the file (line {last}) would be read as one value; remove the stray '\"' "
                       "or close the value (a '\"' inside a value is written '\"\"')"),
    "stray_quote": ("{file} line {line}: a '\"' opens a quoted value that runs to line {end}, where its closing '\"' "
                    "is followed by more text, so {lines} lines would be read as one value; remove the stray '\"' "
                    "on line {line} or line {end} (a '\"' inside a value is written '\"\"')"),
    "ambiguous_quotes": ("{file} line {line}: the '\"' on line {literal} neither opens nor closes a quoted value, "
                         "and the quoted value opened on line {multi} runs over more than one line, so a stray '\"' "
                         "may have joined rows; check the '\"' characters on lines {multi} and {literal} (quote a "
                         "value holding a '\"', and write the '\"' as '\"\"')"),
    "merged_lines": ("{file} line {line}: a row runs over {lines} lines (to line {end}) without the header's "
                     "{expected} fields, so the rows inside it would be lost; check the '\"' characters on those "
                     "lines (a value holding a line break is quoted, and a '\"' inside a value is written '\"\"')"),
    "uncounted_rows": ("{file} line {line}: the CSV reader read {parsed} rows but the file holds {physical}, and "
                       "the two part at this line; check the quoting on this line and re-export the file"),
    "long_record": ("{file}: a line (or a quoted value) is longer than {limit}, which hkc does not read; check "
                    "the quoting, and that the file is line-based CSV"),
    "unreadable_file": "{file} cannot be read ({reason}); check that it exists and you may read it",
    "mostly_malformed": ("{file}: {bad} of the first {seen} lines do not have the header's {expected} fields "
                         "(e.g. '{example}'); check the delimiter and quoting, and that the header belongs to the file"),
    "mostly_rejected": ("{file}: {rejected} of the {scope} rows are rejected, so the file is not usable; the "
                        "commonest problem is {rule}{where} ({times} rows), e.g. row {row}: {message}; fix the "
                        "export at source, and check that it is the right file"),
    "too_many_problems": ("{file}: {rejected} of the {scope} rows are rejected, with {problems} problems, more "
                          "than the {limit} hkc lists; the commonest problem is {rule}{where} ({times} rows), e.g. "
                          "row {row}: {message}; fix the export at source"),
    "unreadable_csv": "{file} cannot be read as CSV ({reason}); re-export it",
    "unreadable_parquet": "{file} is not a readable Parquet file ({reason}); re-export it",
    "truncated_parquet": ("{file} is cut short: it starts as Parquet but its footer is missing (an unfinished copy "
                          "or export); copy or export it again"),
    "bad_type": "{file}: column '{column}' has type {type}, which hkc cannot read; export it as text",
    "missing_column": "{file}: missing required column '{column}'; found columns: {found}",
    "misnamed_column": "{file}: missing required column '{column}'; found '{found}': rename it to '{column}'",
    "wrong_delimiter": ("{file}: missing required column '{column}': the header is one column holding "
                        "{delimiter}s; save the file as comma-separated CSV"),
    "duplicate_column": "{file}: column '{column}' appears {times} times in the header; keep one",
}
