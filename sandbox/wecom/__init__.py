"""A fake of the WeCom 微信客服 (kf) API and the encrypted notices WeCom sends."""
