"""One framework-free function per use case: the only code that reads the store for a question.

The CLI (:mod:`geo_service.cli`) and the web (:mod:`geo_service.web`) parse their input into the
typed options of :mod:`.options`, call a function here and render what it returns, so a
question asked on the command line and in the browser gets the same answer.

=====================================  ======================================================
use case                               function
=====================================  ======================================================
what the store holds                   :func:`.context.store_summary`
looking-back summary (overview)        :func:`.tables.looking_back`
change by area for one category        :func:`.tables.change_by_area`
one area (beat) for the JAG            :func:`.tables.area_view`
incidents per reporting force          :func:`.tables.reporting_forces`
a category page (table, series, maps)  :func:`.views.category_view`
one hotspot map with its accuracy      :func:`.hotspots.hotspot_map`
a category page's maps                 :func:`.hotspots.category_hotspots`
shifts between two periods             :func:`.hotspots.shifts`
collisions, repeat sites, KSI trend    :func:`.collisions.collision_sites`
collisions per km of road              :func:`.collisions.road_rates`
backtest of hotspot methods            :func:`.evaluation.evaluate`
strategic-assessment report            :func:`.report.report_document`
=====================================  ======================================================
"""
