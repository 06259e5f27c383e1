from paso_local.cli import main

raise SystemExit(main())
