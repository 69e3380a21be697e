"""A local web app for sensitize: upload a screen, an in vivo study or a cohort, follow
the analysis, explore interactive plots and download the tables and the report.

Start it with ``sensitize app`` (see ``docs/app.md``) or::

    from sensitize.app import create_app, ServerThread
    server = ServerThread(create_app(workdir="results")).start()
    print(server.url)
"""

from sensitize.app.web import ServerThread, create_app

__all__ = ["ServerThread", "create_app"]
