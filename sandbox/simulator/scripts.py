"""What simulated customers say: short customer-service conversations, mostly Chinese."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    topic: str
    lines: tuple[str, ...]  # what the customer says, in order; later lines answer the agent


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "退款",
        (
            "你好，我上周买的蓝牙耳机左耳没声音，想申请退款",
            "订单号是 DD20261118003521",
            "已经拍了照片，需要我发给你们吗？",
            "好的，那退款大概几天能到账？",
            "谢谢，麻烦尽快处理",
        ),
    ),
    Scenario(
        "物流",
        (
            "在吗？我的快递三天了还没更新物流信息",
            "单号 SF1409228371，显示还在广州转运中心",
            "我这周五之前要用，能不能帮忙催一下",
            "好的，有消息麻烦告诉我一声",
        ),
    ),
    Scenario(
        "发票",
        (
            "请问可以开增值税专用发票吗？",
            "抬头：杭州青禾贸易有限公司，税号 91330106MA2H3X5Q7K",
            "电子发票发到 finance@qinghe.cn 就可以",
            "收到了，谢谢！",
        ),
    ),
    Scenario(
        "会员",
        (
            "我是你们的金卡会员，这次双十一的优惠券怎么没收到？",
            "手机号是 138****6621",
            "那积分能抵扣运费吗？",
            "明白了，谢谢",
        ),
    ),
    Scenario(
        "投诉",
        (
            "你们客服昨天答应给我回电话，到现在都没人联系我！",
            "这已经是第三次了，太影响体验了",
            "我要的是解决问题，不是道歉",
            "好吧，我再等你们一天",
        ),
    ),
    Scenario(
        "尺码",
        (
            "这件羽绒服我身高165体重52公斤，穿M还是L？",
            "平时穿衣偏宽松一点",
            "那我拍L，今天下单什么时候发货？",
        ),
    ),
    Scenario(
        "换货",
        (
            "收到的杯子颜色发错了，我买的是雾蓝色，来的是米白色",
            "可以换吗？我不想退",
            "好的，寄回的运费谁出？",
            "行，那我明天寄出",
        ),
    ),
    Scenario(
        "售后",
        (
            "扫地机器人充不进电了，买了才两个月",
            "试过换插座，也重启过了",
            "上门维修要收费吗？",
        ),
    ),
    Scenario(
        "门店",
        (
            "你们北京有线下门店吗？想去试一下",
            "朝阳区附近的有吗",
            "周末几点营业？",
        ),
    ),
    Scenario(
        "English order",
        (
            "Hi, I ordered a tea set last week but it hasn't shipped yet.",
            "Order number is DD20261120118842.",
            "Can you ship it to Shanghai instead? I moved.",
            "Great, thank you!",
        ),
    ),
    Scenario(
        "English refund",
        (
            "Hello, the phone case I received is cracked. Can I get a refund?",
            "Yes I have photos. Should I send them here?",
            "Thanks for the quick help.",
        ),
    ),
)

THANKS = ("好的，谢谢", "收到", "嗯嗯，明白了", "好的👌", "OK, thanks")

NICKNAMES = (
    "小鱼儿",
    "陈先生",
    "林女士",
    "阿杰",
    "Momo",
    "周周",
    "王小姐",
    "大熊",
    "Lily",
    "张师傅",
    "橙子",
    "老李",
    "赵同学",
    "Kevin",
    "刘阿姨",
    "小七",
)
