from fauxshop.cli import main

raise SystemExit(main())
