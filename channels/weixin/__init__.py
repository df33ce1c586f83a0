"""What the WeChat family shares: the Official Account (`channels.wechat`) and WeCom
微信客服 (`channels.wecom`) speak the same errcode JSON, token and crypto dialect."""
