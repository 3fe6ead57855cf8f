"""The Worker's request path before anything is forwarded (entry.py drives it): the request policy and LiteLLM's
parameters (`request_policy`, `litellm_params`), bounded body reading (`body_reader`, `form_reader`,
`form_fields`), the one model a request is for (`model_choice`), and virtual keys at the edge (`key_gate`).
"""
