from okxscalp.cli import main

raise SystemExit(main())
