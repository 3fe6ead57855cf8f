"""The container instances' Durable Object (`durable_object`): LiteLLM's lifecycle (`supervisor`, `lifecycle`,
`adapter` over workerd's container API), the proxy that relays each request and answer (`proxy`, its logic in
`exchange`, `upstream_errors`), and booking what each answer served (`booking`).
"""
