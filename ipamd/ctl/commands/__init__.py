"""One module per vpc-ipamctl subcommand, each with ``run(args) -> exit code``.

The module's name is the subcommand's, with ``-`` as ``_``; ipamd.ctl imports it on demand.
"""
