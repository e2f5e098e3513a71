"""What the demo's fictional citizens write, and where: place names, message templates, and one message's text.

Every place and every text is invented; ``{p}``-style fields are filled from the lists here. The order in
which :func:`citizen_text` draws from the random generator is part of ``seed-demo --seed``'s reproducibility.
"""

from __future__ import annotations

import random

# -- fictional place names ------------------------------------------------------------------------

ROADS = [
    "人民路", "解放路", "中山路", "建设路", "和平路", "胜利路", "长江路", "黄河路", "文化路", "新华路",
    "光明街", "幸福街", "东大街", "西大街", "南关街", "北门街", "工业大道", "滨江大道", "迎宾大道", "环城北路",
]  # fmt: skip
COMMUNITIES = [
    "幸福小区", "阳光花园小区", "翠湖小区", "锦绣家园小区", "金色家园小区", "书香苑小区", "东湖小区", "滨河小区",
    "碧桂苑小区", "丽景小区", "嘉和小区", "华庭小区", "紫荆花园", "康乐小区", "怡景小区", "新城小区",
]  # fmt: skip
VILLAGES = ["东风村", "王家村", "李庄村", "河口村", "石桥村", "柳树村", "杨湾村", "马坊村", "新民村", "前进村"]
TOWNS = ["城关镇", "新华镇", "青山镇", "白沙镇", "桃源镇", "龙泉镇"]
SQUARES = ["人民广场", "市民广场", "世纪广场", "时代广场", "文化广场"]
SCHOOLS = ["实验小学", "第一中学", "第三中学", "育才小学", "城南小学", "职业技术学校", "红星小学"]
HOSPITALS = ["市人民医院", "中医院", "妇幼保健院", "第二人民医院", "城西社区医院"]
MARKETS = ["农贸市场", "东门菜市场", "步行街", "夜市", "汽车站", "火车站"]
PLACES = ROADS + COMMUNITIES + VILLAGES + TOWNS + SQUARES + SCHOOLS + HOSPITALS + MARKETS
RESIDENTIAL = COMMUNITIES + VILLAGES

# -- what citizens write ---------------------------------------------------------------------------
# {p}: a place, {r}: a road, {c}: a residential place, {n}: a number of days.

COMPLAINTS: dict[str, list[str]] = {
    "urban_construction": [
        "{p}的路灯坏了{n}天了，晚上很黑很不安全",
        "{r}路面有个大坑，电动车经过很危险",
        "{c}门口的井盖松动了，踩上去会翻",
        "{r}下雨就积水，行人没法走",
        "{c}附近工地夜里施工，噪音扰民睡不着觉",
        "{r}人行道被占道经营的摊贩堵住了",
        "{c}有人私搭乱建违章建筑，占用公共绿地",
        "{c}的电梯经常停运，老人上下楼很困难",
        "{c}停车位太少，车辆乱停乱放堵住消防通道",
        "{c}物业不作为，楼道垃圾没人清理",
    ],
    "environment": [
        "{p}附近工厂夜里排放刺鼻气味",
        "{c}旁边的垃圾站好几天没清运，臭味很大",
        "{p}附近的河道发黑发臭，有污水直排",
        "{c}楼下饭店油烟直排，窗户都不敢开",
        "{p}附近有人焚烧垃圾，浓烟很大",
        "{c}附近的搅拌站粉尘很大",
        "{p}的广场舞音响声音太大，噪音扰民",
    ],
    "transport": [
        "{r}的公交站取消后出行很不方便",
        "{r}和{r2}路口的红绿灯坏了",
        "{p}的公交车经常不按时到站",
        "{r}上出租车拒载、绕路",
        "{school}门口上下学时段交通拥堵严重",
        "{r}的共享单车乱停乱放占用盲道",
    ],
    "education": [
        "{school}乱收费，要求家长购买指定资料",
        "{school}附近的校外培训机构违规开课",
        "孩子在{school}的学位分配不合理",
        "{school}的食堂饭菜质量差",
        "{school}放学后的托管服务收费太高",
    ],
    "labor_social_security": [
        "{p}附近一家工地拖欠农民工工资{n}个月了",
        "公司不给交社保，{p}的人社窗口说管不了",
        "在{p}上班的单位不签劳动合同",
        "失业金申请{n}天了还没有到账",
        "{p}的一家公司拖欠工资，老板联系不上",
    ],
    "commerce_tourism": [
        "{market}有商贩缺斤短两",
        "{p}附近的景区门票乱收费",
        "在{market}买到过期食品，商家不退",
        "{p}的一家饭店价格欺诈，菜单不明码标价",
        "{p}的网吧接纳未成年人上网",
    ],
    "health": [
        "{hospital}挂号难，排队{n}个小时",
        "{hospital}的医生态度很差",
        "{p}附近的诊所无证行医",
        "{hospital}乱收费，检查项目重复",
        "{c}附近的药店卖药不要处方",
    ],
    "public_security": [
        "{c}附近经常有人深夜飙车，噪音很大",
        "{c}门口有人养大型犬不拴绳，咬伤了人",
        "{p}有人在路边赌博",
        "{c}电动车被偷了，小区监控是坏的",
        "{p}附近有流浪狗伤人",
    ],
    "civil_affairs": [
        "{c}的养老服务中心一直没有开放",
        "低保申请交了{n}个月没有结果",
        "{v}的困难老人没人照顾",
        "{p}的婚姻登记处预约不上",
        "{v}的残疾人补贴没有发放",
    ],
    "other": [
        "{p}附近的问题反映了很多次都没人管",
        "{town}政府办事窗口工作人员推诿",
        "{p}的政务服务中心排队时间太长",
    ],
}
INQUIRIES: list[tuple[str, str]] = [
    ("labor_social_security", "请问社保断缴了怎么补缴"),
    ("labor_social_security", "{p}附近哪里可以办理社保卡"),
    ("labor_social_security", "灵活就业人员怎么参加养老保险"),
    ("labor_social_security", "失业保险金怎么申领"),
    ("labor_social_security", "公积金提取需要什么材料"),
    ("health", "新生儿医保怎么办理"),
    ("health", "{hospital}周末有没有门诊"),
    ("health", "异地就医备案怎么办理"),
    ("health", "疫苗接种在哪里预约"),
    ("education", "{school}今年的招生范围是哪些小区"),
    ("education", "小学入学需要准备什么材料"),
    ("education", "外地户口的孩子怎么在本地上学"),
    ("transport", "{r}的公交线路调整了吗"),
    ("transport", "驾驶证到期了怎么换证"),
    ("transport", "去{hospital}坐几路公交车"),
    ("public_security", "身份证丢了怎么补办"),
    ("public_security", "居住证怎么办理"),
    ("public_security", "户口迁移需要哪些手续"),
    ("civil_affairs", "高龄津贴怎么申请"),
    ("civil_affairs", "婚姻登记需要预约吗"),
    ("urban_construction", "{c}的老旧小区改造什么时候开始"),
    ("urban_construction", "{r}什么时候修好"),
    ("commerce_tourism", "{square}最近有什么文化活动"),
    ("commerce_tourism", "个体工商户营业执照怎么办理"),
    ("environment", "垃圾分类的投放时间是几点"),
    ("other", "政务服务中心周六上班吗"),
    ("other", "12345热线可以打吗"),
    ("other", "{town}便民服务中心的电话是多少"),
]
SUGGESTIONS: list[tuple[str, str]] = [
    ("urban_construction", "建议在{r}增加路灯"),
    ("urban_construction", "建议{c}增设电动车充电桩"),
    ("urban_construction", "建议在{c}附近增加停车位"),
    ("transport", "建议在{r}增设公交站"),
    ("transport", "建议延长{p}公交线路的末班车时间"),
    ("transport", "建议在{school}门口设置减速带"),
    ("environment", "建议{square}增加垃圾分类桶"),
    ("environment", "建议在{p}多种一些树"),
    ("education", "建议{school}延长课后服务时间"),
    ("health", "建议{hospital}增加夜间门诊"),
    ("civil_affairs", "建议在{v}建一个老年食堂"),
    ("commerce_tourism", "建议{square}周末开放夜市"),
    ("other", "建议政务服务中心增加自助办理机"),
]
PRAISES: list[tuple[str, str]] = [
    ("urban_construction", "{r}的路修好了，感谢相关部门"),
    ("public_security", "感谢{p}派出所民警帮我找回了钱包"),
    ("health", "{hospital}的医生护士很负责，表扬一下"),
    ("environment", "{c}旁边的垃圾站清理干净了，谢谢"),
    ("civil_affairs", "社区工作人员上门帮老人办了补贴，点赞"),
    ("transport", "{r}的公交司机很热心，帮老人上车"),
    ("education", "{school}的老师很负责任，感谢"),
]
CHITCHAT = [
    "你好", "在吗", "谢谢", "早上好", "好的", "收到", "有人吗", "你好，请问在吗", "晚上好", "谢谢你们",
    "哦", "知道了", "辛苦了", "👍", "嗯嗯", "您好", "打扰了", "好", "OK", "明白",
]  # fmt: skip
EMERGENCIES: list[tuple[str, str]] = [
    ("fire", "{p}着火了，快来人"),
    ("fire", "{c}有一栋楼冒烟了"),
    ("medical", "{p}有人晕倒了，叫救护车"),
    ("medical", "{c}有老人摔倒了起不来"),
    ("police", "{p}有人打架，拿着刀"),
    ("police", "{c}有小偷正在撬门"),
    ("traffic", "{r}发生车祸了，有人受伤"),
    ("traffic", "{r}和{r2}路口两车相撞"),
]
SUFFIXES = [
    "", "", "", "", "，已经{n}天了", "，希望尽快处理", "，多次反映没有结果", "，请相关部门管一管",
    "，麻烦帮忙看看", "，影响很大", "，周边居民意见很大", "！", "，请问怎么办", "。联系电话{phone}",
    "，我的电话是{phone}",
]  # fmt: skip
EMERGENCY_NUMBERS = {"police": "110", "fire": "119", "medical": "120", "traffic": "122"}


def phone(rng: random.Random) -> str:
    """A fictional mobile number."""
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def fill(rng: random.Random, template: str, spike_place: str | None) -> str:
    """``template`` with its fields filled (``spike_place``, if given, as the place)."""
    values = {
        "p": spike_place or rng.choice(PLACES),
        "r": rng.choice(ROADS),
        "r2": rng.choice(ROADS),
        "c": spike_place if spike_place in RESIDENTIAL else rng.choice(RESIDENTIAL),
        "v": rng.choice(VILLAGES),
        "town": rng.choice(TOWNS),
        "square": rng.choice(SQUARES),
        "school": rng.choice(SCHOOLS),
        "hospital": rng.choice(HOSPITALS),
        "market": rng.choice(MARKETS),
        "n": rng.choice((2, 3, 5, 7, 10, 15, 20, 30)),
        "phone": phone(rng),
    }
    return template.format(**values)


# Rising in the last week: these themes and one place get extra traffic.
SPIKES = [
    ("urban_construction", "{r}下雨就积水，行人没法走"),
    ("environment", "{c}楼下饭店油烟直排，窗户都不敢开"),
    ("labor_social_security", "{p}附近一家工地拖欠农民工工资{n}个月了"),
]
SPIKE_PLACE = "锦绣家园小区"


def citizen_text(rng: random.Random, kind: str, recent: bool) -> tuple[str, str, str | None]:
    """(text, department, emergency kind) of a citizen's message of ``kind``; ``recent``: in the last week."""
    spike = recent and rng.random() < 0.12
    place = SPIKE_PLACE if recent and rng.random() < 0.04 else None
    if kind == "complaint":
        if spike:
            dept, template = rng.choice(SPIKES)
        else:
            dept = rng.choice(list(COMPLAINTS))
            template = rng.choice(COMPLAINTS[dept])
        return fill(rng, template, place) + fill(rng, rng.choice(SUFFIXES), None), dept, None
    if kind == "inquiry":
        dept, template = rng.choice(INQUIRIES)
        return fill(rng, template, place) + rng.choice(("", "？", "，谢谢")), dept, None
    if kind == "suggestion":
        dept, template = rng.choice(SUGGESTIONS)
        return fill(rng, template, place), dept, None
    if kind == "praise":
        dept, template = rng.choice(PRAISES)
        return fill(rng, template, place), dept, None
    if kind == "emergency":
        emergency, template = rng.choice(EMERGENCIES)
        dept = "public_security" if emergency in ("police", "traffic") else "health"
        if emergency == "fire":
            dept = "other"
        return fill(rng, template, place), dept, emergency
    return rng.choice(CHITCHAT), "none", None
