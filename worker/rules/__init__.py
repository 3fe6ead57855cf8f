"""The gateway's HTTP rules, shared by the Worker and its Durable Objects (pure, CPython-tested): which paths are
served (`routing`), which key a request presents (`auth`), CORS, which headers pass (`header_policy`), body sizes
(`body_limit`), content types, request ids, which container instance serves (`instances`), the bounded JSON
scanner (`json_scan`) and every error the gateway answers itself (`errors`). Imports nothing else of worker/.
"""
