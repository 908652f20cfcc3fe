"""Design-space sweeps (``tapeout sweep``): a sweep file expanded into points
(:mod:`~tapeout.sweep.spec`), each simulated once (:mod:`~tapeout.sweep.evaluate`) on Dask and
cached (:mod:`~tapeout.sweep.run`), with area estimates (:mod:`hw.area`), the table
(:mod:`~tapeout.sweep.table`) and the Pareto front (:mod:`~tapeout.sweep.report`)."""
