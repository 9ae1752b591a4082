"""The options every evaluation names alike: where it runs and where its figures go."""


def add_output_arguments(parser, report_clips: int, clips_help: str) -> None:
    """``--device``, ``--json``, ``--report`` and ``--report-clips`` (default ``report_clips``)."""
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    parser.add_argument("--report", default=None, help="write an HTML report: out.html, or a folder for index.html")
    parser.add_argument(
        "--report-clips", type=int, default=report_clips, help=f"{clips_help} the report shows (default {report_clips})"
    )
