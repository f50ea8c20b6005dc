from dxaspine.cli import main

raise SystemExit(main())
