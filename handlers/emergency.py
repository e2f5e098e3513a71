"""The emergency rules: words that say something dangerous is happening now, to someone, here.

High recall, because a missed fire costs more than a false alarm; how sure the bot is, and so what the
citizen is told, is decided in ``handlers/urgency.py``. Words for the same things in everyday complaints
("消防通道", "车祸多发"), in the past ("上个月着过火") or as a risk ("万一起火") are excluded; each rule names the
service whose number the reply leads with (police 110, fire 119, medical 120, traffic 122).
"""

from __future__ import annotations

import re
import unicodedata

from handlers.rxguard import guarded

_CJK = re.compile(r"[\u4e00-\u9fff]")
# Happening now, to someone, here. Words for the same things in everyday complaints ("消防通道",
# "车祸多发") and in the past ("上个月着过火") are excluded below.
_PERSON = (
    r"(人|他|她|我|孩子|小孩|儿子|女儿|老人|老公|老婆|爸|妈|爷爷|奶奶|外婆|外公|姥姥|姥爷|婆婆|公公|老伴|阿姨|大爷|"
    r"宝宝|弟弟|妹妹|哥哥|姐姐|学生|同事|司机|行人|工人|小哥|小伙|姑娘|女孩|男孩|阿婆|阿伯|大妈|大叔|骑手|路人|室友|"
    r"邻居|闺女|孕妇|"
    # Cantonese, Hong Kong and Taiwan kin (我个仔, 个女, 细路, 老豆, 阿嫲, 阿嬷, BB).
    r"个仔|阿仔|细路|细佬|家姐|老豆|老窦|阿爷|阿嫲|阿嬷|阿公|小朋友|囡囡|个女(?![人的士生孩])|婴儿|BB|bb)"
)
# Family, children and the elderly: whose going out and not being found is an emergency (not "我", who may be
# looking for a parking space).
_KIN = (
    r"(孩子|小孩|儿子|女儿|闺女|老人|老公|老婆|爸|妈|爷爷|奶奶|外婆|外公|姥姥|姥爷|婆婆|公公|老伴|宝宝|弟弟|妹妹|娃|"
    r"个仔|阿仔|细路|细佬|家姐|老豆|老窦|阿爷|阿嫲|阿嬷|阿公|阿婆|小朋友|囡囡|个女(?![人的士生孩])|BB|bb)"
)
# A person (not 我的 / 佢嘅 …) who is missing, in Mandarin or Cantonese, and not a thing that
# is (钱包不见了, 我个银包唔见咗, 我唔见咗部手机), nor "the lost one" found again (揾返个走失咗嘅仔, 好彩揾返).
_MISSING = (
    r"(?![的嘅之]).{0,14}(?<![包机证卡匙车袋书件狗猫表链币钱款票照])"
    r"(不见了|找不到了|没回来|没回家|联系不上了|走丢了|走失了|走散了|唔见(咗|左|了)|走失咗|走散咗|(行|跟)散(咗|了)|荡失(路|咗)|"
    r"揾(极|咗好耐)?(都)?(唔|不)到(佢|人)|失踪(咗|了))(?!(部|只|个|张|条|本|把|架|副|啲|嘢|手机|钱|证|卡|锁匙|钥匙|嘅|的))"
    r"(?!.{0,20}(揾返|搵返|找回来了|找到了|寻回|接返))"
)
# Checked in this order: a crash with injuries is 122 first, a fight with injuries 110 first.
_EMERGENCY_PATTERNS: dict[str, re.Pattern[str]] = {
    "traffic": re.compile(
        _PERSON + r"(?![的嘅部架辆车]).{0,4}(被|俾).{0,6}撞|车祸|撞车|相撞|对撞|撞在一起|连环(撞|追)|"
        r"撞(倒|伤)了?(一个|一位|个|位)?"
        + _PERSON
        + r"|撞飞|撞(了|伤)"
        + _PERSON
        + r"|撞(咗|亲)|翻车|车翻了|翻覆|把.{0,6}撞(了|倒|飞|伤|翻)|(碾|轧)(过|到|了).{0,8}人|"
        # Then: knocked down or run over by a vehicle, pinned under it, a vehicle overturned into a ditch.
        r"卡在车|追尾了?.{0,6}(受伤|流血|人)|交通事故.{0,6}(受伤|流血|人)|"
        + _PERSON
        + r"(?![的嘅部架辆车]).{0,8}(被|俾).{0,6}车.{0,3}((刮|碰|蹭|带|撞)(倒|伤|飞)|撞(了|到|亲|咗))|"
        r"被.{0,6}(车|轮).{0,2}(碾|轧|压)(了|到|住|过|伤)|"
        r"把(人|" + _PERSON[1:-1] + r").{0,2}(压|轧|碾)(住|了|到|倒|在)|(压|卡)在车(轮|底|下)|"
        r"车.{0,4}翻(进|到|下)?.{0,4}(沟|坡|崖|田)|冲下(坡|崖|山)|"
        r"辗(过|到|了)|(司机|驾驶员|乘客|骑手).{0,4}卡住|车.{0,10}压在(下面|底下)|"
        # A vehicle hit something or someone, and someone is down, bleeding, hurt or stuck.
        r"(车|摩托).{0,10}(撞|碰|刮|追尾)了?.{0,16}(倒在|倒地|躺在|躺地|不动|流血|出血|(?<![没未无])(?<!没有)受伤|昏|叫不醒|"
        r"起不来|爬不起来|站不起来|动不了|卡住|飞出去|磕破|头破|摔下来|骨折|断了)|"
        # A vehicle into a crowd, a rollover or a fall into a ditch with someone hurt or stuck,
        # a driver stuck in the cab, someone knocked down by the writer, a message that opens with 被…车撞了.
        r"(冲|撞)进了?人群(?!的)|冲上了?人行道.{0,6}撞|撞(了|倒|到)了?(好几个|几个|一群|一排|两个|三个)(?!多|月|小时|钟头|星期|礼拜|车位)|侧翻(?!的)|"
        r"车.{0,8}翻了(?!的)|车.{0,4}(掉|栽|冲|滑)(进|到|下)了?.{0,6}(沟|坡|崖|田)|"
        r"(摔|翻|掉|栽)(进|到|下)?了?.{0,3}(沟|坑|坡|崖)(里|下)了?.{0,12}(动不了|起不来|爬不起来|出不来|流血|站不起来)|"
        r"卡在(驾驶室|车里|座位)|撞(断|穿|破|开)了?(护栏|栏杆|隔离)|把.{0,6}(带|刮|碰|蹭)(倒|伤|飞)|"
        r"^(被|俾).{0,8}(车|摩托).{0,3}(撞|刮|碰)(了|到|倒|伤|飞|亲|咗)|"
        # Hong Kong and Taiwan wording: a vehicle mounting a pavement or a bus stop (铲上行人路), a rider
        # dragged under a lorry (卷进车底).
        r"(铲|冲)上了?(行人路|行人道|巴士站|人行道|石壆|路边).{0,12}(人|撞)|(卷|拖|扯)(进|入|到)了?车(底|下)"
    ),
    "police": re.compile(
        r"持刀|拿刀|拿着.{0,2}(刀|棍|棒)|拿著.{0,2}(刀|棍|棒)|砍人|捅人|杀人|要杀|弄死|抢劫|打劫|抢(包|手机|东西)|绑架|挟持|"
        r"家暴|打(他|她)?的?(孩子|老婆|老公|媳妇)(?!电话)|正在打|被人打|被(人)?抢了|打人|打架|围殴|互殴|斗殴|群殴|械斗|"
        r"抄(了|着|起)?.{0,3}(刀|棍|棒|钢管|铁棍|砖|酒瓶|瓶子|板凳|凳子|椅子)|入室|闯进|撬(门|锁)|踹门|砸(门|车|东西|摊|店)|进贼|小偷在|正在偷|"
        r"拐卖|抢孩子|往车上塞|被跟踪|跟踪我|非法拘禁|(被|把我).{0,4}关在|(被|把我).{0,4}锁在(?!车)|燃烧瓶|寻死|跳楼|往下跳|要跳下去|"
        + _PERSON
        + _MISSING
        + r"|"
        # Weapons in hand, followed now, strangled, robbed in a corner, a threat to kill, self-harm.
        r"(拿|持|掏出|举着|挥着|挥舞|拎着|拎住|拎起|揸住|揸着|揸)(着|著)?.{0,4}(刀|(?<!水)(?<!玩具)枪|斧头|斧子|镰刀|钢管|铁棍|铁通|酒瓶|酒樽|砖头|球棒|棒球棍|棍子|木棒|铁棒)|"
        r"(一直|一路)跟(着|住|在)(我|她|他|佢)|跟住(我|佢|她)|掐(着|住)?.{0,4}脖子|"
        r"(拿|用)(皮带|棍子|衣架|擀面杖|鞋).{0,4}(抽|打)|"
        r"(堵|围|拦)(在|住|着).{0,10}(要我|抢我|让我|逼我).{0,4}(钱|手机|包|交出|掏)|围(在|住|着).{0,6}(打|揍)(?!电话|喇叭|牌|麻将|球|针|卡|车)|斩(我|死|人)|要砍我|"
        r"撬.{0,4}(门|锁|窗)|打紧交|(在|一直|不停)(摸|猥亵|非礼)(女|她|小孩|小女孩|小朋友|个女)|往.{0,4}车(里|上)(拖|拽)|(拖|拽)(进|上)了?.{0,3}车|"
        r"(走|跑)(出去|出门|丢)了?.{0,14}(没找着|没找到|找不着|没回来|没回家|联系不上)|"
        r"(不想活|活着没意思|想不开|告别(?!仪式|会|厅|式)|遗书).{0,20}"
        r"(刀|吃药|吞药|安眠药|楼顶|天台|桥上|河边|江边|跳|关机|联系不上|找不到|找不着|门也不开|不开门|反锁|锁在|没回应|叫不应)|"
        # Kin who went out and are not found, a group fight now, robbery, a cry for help heard,
        # a stranger pulling a girl, hiding now, a burglar climbing or inside, someone sitting outside a
        # railing on a roof, a bomb shown.
         + _KIN + r".{0,24}(出门|出去|走了|走出去|跑出去|跑了|放学|离家|出咗去|出咗门|行咗出去|出街|落街|出咗街|落咗街)"
        r".{0,14}(没找到|找不到|找不着|没找着|没回来|没到家|没回家|联系不上|关机|揾唔到|揾不到|未返|冇返|联络唔到|"
        r"联系唔到|联络不上|冇人听|唔听电话|失联)|"
        r"(两伙|两帮|一群|一帮|几个|十几个|好几个|一伙)人.{0,8}打起来|抢(了|咗).{0,8}(包|手机|钱包|项链|金链|手袋|银包)|"
        # Cantonese: hitting someone now (打紧, not 打紧电话), a snatch, a chase with a weapon
        # or fists, someone on a roof who wants to jump.
        r"(打|揍|殴打)紧(我|佢|人|" + _KIN[1:-1] + r")|(有人|有个人|个男人|班人|佢)抢嘢|(被|俾)人抢(咗|了)?|"
        r"追(住|着)(人|我|佢|他|她).{0,4}(打|斩|砍|捅|劈)|(天台|楼顶|窗口|窗台|桥|阳台|屋顶|栏杆|天桥).{0,8}(想|要|话要|扬言|准备)跳|"
        r"(听到|听见|有人|一直|在)在?(喊|叫|呼)救命|"
        r"(男的|男人|陌生人|有人).{0,12}(拉|拖|拽)(住|走)?(?!着).{0,3}(小女孩|小女生|女孩|女生|小孩|孩子|小朋友)|"
        r"(男的|男人|有人).{0,10}(摸|猥亵|非礼)(女|她|小孩|小女孩|小朋友|我)|"
        r"我(们|哋)?(现在|而家)?(躲|藏|匿)埋?(在|喺|到|进)了?.{0,4}(厕所|卫生间|浴室|洗手间|柜|床底|后楼梯|楼梯间|房间|屋里)|"
        r"陌生人.{0,6}(在翻|翻东西|撬)|被(人)?撬(了|开).{0,16}(里面|屋里|家里|还在|有动静|不敢)|"
        r"小偷.{0,8}(正|在|正在)(往|爬|翻|撬)|(正|正在|在)(爬|翻)(进|上)?.{0,3}(阳台|窗户|防盗网)|正往.{0,4}楼.?爬|"
        r"(栏杆|护栏)外(面|边|头)?.{0,4}(坐|站)|(坐|站)(在|着)?.{0,4}(栏杆|护栏)外|"
        r"(楼顶|天台|房顶|窗台).{0,10}(坐|站)着.{0,16}(哭|悬在外|不肯下来|不下来)|"
        r"(举着|拿着|身上|绑着|说是|说有).{0,6}(炸药|炸弹)|"
        # Cornered or held by people now (被几个人堵在…, 他们把我围住, 圍住我唔俾我走), with or
        # without a demand or a threat; not a car boxed in (车被人堵在, 挪车), a sales pitch or a parking fee.
        r"(?<!车)(?<!车子)(被|俾)(几个|一群|一帮|一伙|好几个|[两三四五六七八九十]个|些)?(人|男的|男人|混混|小混混|流氓|"
        r"陌生人|社会青年|小青年|壮汉|大汉|讨债的|要债的|要账的|收数佬|债主|黑社会|大孩子|高年级的|传销的|前夫|前度|前男友|醉汉)(给)?(堵|围|扣|押|困)(在|住|着|咗|喺|了)"
        r"(?!.{0,12}((?<!停)车(?!库|场|站|厢)|挡住|推销|传单|拍照|合影|签名|看热闹|问路))|"
        r"(几个|一群|一帮|一伙|好几个|[两三四五六七八九十]个|他们|佢哋|那些人|这帮人|那帮人|这伙人|那伙人|讨债的|要债的|混混|流氓|传销的|的人)"
        r"(人|男的)?.{0,6}(把|将)(我们|我家|我|我的)?的?"
        + _KIN
        + r"?(给)?(堵|围|扣|押|困)(在|住|着|了)(?!.{0,4}(门外|外面|外边))|"
        r"(堵|围|拦|扣|押|截)(住|着|咗)(我|我们|佢|我哋)(?!.{0,20}(停车|收费|车费|押金|工资|保证金))"
        r".{0,10}(不(让|准|许|放)|唔(俾|畀)|要钱|交钱|给钱|转账|逼|要打|要砍)|"
        r"(堵|围|拦|扣|押|截|锁|关)(在|住|着|咗|喺|了|下来)(?!.{0,24}(停车|收费|车费|押金|工资|保证金|证|档案|护照)).{0,16}"
        r"((不给|不交|不拿|不转|唔俾|唔畀).{0,4}(钱|就).{0,6}(别想|不让|不放|就打|打死|砍|弄死|唔俾|唔畀|唔使旨意)|"
        r"(逼|要|让)着?我.{0,4}(转账|交钱|给钱|拿钱|付钱|交出)|(不(让|准|许|放)|唔(俾|畀))(我|我们|俺|人|佢|我哋)?(走|离开|下车|出去|出门|出街|回家))|"
        r"(不给|不交|唔俾|唔畀)钱?就?(别想|唔使旨意)活(着)?(走|离开|出去)|"
        r"(他们|佢哋|那些人|那帮人|这帮人|那伙人|这伙人)(还|就|都|仲)?(不让|不准|不许|不放|唔俾|唔畀)(我|我们|俺|我哋)"
        r"(走|离开|回家|出去|出门|下车|返屋企)(?!.{0,12}(加班|上班|下班|辞职|离职|工资|开会|培训))"
    ),
    "fire": re.compile(
        r"(?<![打点])(?<!打不)(?<!点不)[着著]火|起火|失火|火灾|烧起来|(?<!人)(?<!现)在烧|烧着了|火.{0,4}(烧到|窜|蹿|蔓延)|火光|爆燃|自燃|冒火|火好大|火很大|火苗|冒烟|冒黑烟|全是烟|(全|都)是(黑|浓)烟|烟滚滚|浓烟|好浓的烟|都是烟|"
        r"煤气味|燃气味|瓦斯味|石油气味|煤气泄|燃气泄|液化气泄|天然气泄|漏气|漏紧气|(燃气|煤气|天然气|瓦斯|液化气|石油气).{0,6}漏|"
        r"(燃气|煤气|天然气|瓦斯|液化气|石油气)外泄|(石油气|气喉|煤气喉).{0,4}漏紧|"
        # Cantonese: 火烛 (not the slogan 小心火烛), something burning now (烧紧), 着咗火.
        r"(?<!小心)(?<!防)火烛|(大厦|大楼|楼|屋|厨房|单位|铺头|铺|仓|厂|车|房|山|货柜|工地|外墙|电箱|窗)(度|入面|里面|嗰边|𠮶边)?(烧紧|着紧火)|"
        r"[着著]咗火|起咗火|烧(咗)?起身|着起来|(罐|锅)着了|起了?大火|闻到.{0,4}(煤气|燃气|天然气)|"
        r"(燃气|煤气|天然气|液化气)(管|罐|瓶).{0,8}(断|破|裂|爆|喷)|"
        # Stuck in a lift or in flood water with people inside: 119 rescue.
        r"电梯.{0,4}(卡住|停住|困住|不动了|掉下).{0,16}(在里面|在里头|出不来|出不去|打不开)|"
        r"(被淹|淹在|泡在水).{0,10}(还在|困在|出不来).{0,4}(车|屋|房|里)|"
        r"被困|困在.{0,6}(家|楼|屋|里|车|电梯)|水还在涨|卡在.{0,4}(中间|电梯)|"
        + _PERSON
        + r"(不小心|失足)?掉(进|到|在)?.{0,3}(河|江|湖|水库|水塘|池塘|鱼塘|井|窨井|海|粪池|水)里|"
        # Trapped by water, fire or smoke, or stuck by a limb: 119 rescue.
        r"(淹|水|火|烟).{0,10}(" + _PERSON[1:-1] + r"|一家|全家|大家).{0,6}(出不去|出不来|逃不出|跑不出|下不去|下不来)|"
        r"淹(到|过|没)了?.{0,2}(腰|胸|脖子|肩膀|头)|"
        r"卡在.{0,6}(栏杆|护栏|缝|洞)|卡.{0,10}(拔不出|拔唔出)|"
        # Smoke in a stairwell or through a door (not 抽烟 / 烟味 / 烟花 / a smoke alarm), a burnt smell
        # with heat, a car in the water, a child locked in a car, people buried or under a collapse.
        r"(楼道|楼梯|走廊|过道|门缝|窗缝)(间|口|里)?.{0,6}(?<![抽吸香油手禁排防])烟(?!味|头|蒂|酒|草|盒|花|感|雾报|道|囱)|"
        r"(焦|糊|燶)(味|的味|的味道|臭).{0,16}(烫手|发烫|烫人|很烫|好烫)|(烫手|发烫|烫人|很烫|好烫).{0,16}(焦|糊|燶)|"
        r"车.{0,8}(冲|掉|滑|开|翻|栽)(进|到|入|下)了?.{0,6}(河|江|湖|海|水塘|鱼塘|池塘|塘|塭|水库|水里|水中)(里)?(去)?了|"
        r"(孩子|小孩|宝宝|婴儿|娃|小朋友|老人).{0,6}(锁|关)在车(里|上|内)|车(门|子)?.{0,4}(锁上|锁住|反锁).{0,10}(孩子|小孩|宝宝|娃|打不开)|"
        r"被埋(住|在|了)|(困|埋)在废墟|压在.{0,6}(下面|底下|下边|废墟)|(塌|倒塌|垮)了?.{0,10}(还有人|人在喊|有人在喊|人还在|压着人|埋着人|压住了|没(爬|逃|跑)(上来|出来))|"
        r"电梯.{0,2}(冲顶|蹲底|下坠|坠落|溜车)|(电线|插座|插头|电器|线路)(烧|烧焦|烧化|烧糊|烤焦)了?的?(味|臭)|"
        r"(配电(室|房|箱|柜)|电箱|电闸|电表箱|插座|插线板).{0,12}(蓝光|电弧|烧焦|烧化|糊味|焦味|焦糊)|"
        # Smoke or fire pouring out, a fire out of control, smoke in a closed space, a gas smell
        # (臭鸡蛋) in a kitchen or a hissing gas pipe, a lift stuck between floors with people in it, water up
        # to the chest or a window, a person fallen into a pool, trapped (Cantonese 出唔到去).
        r"(?<!烟囱)冒出(?!的).{0,4}(?<![油])(烟|火)|冒(白|黑|浓|青)烟|(?<![抽吸香油手二])烟.{0,4}涌(出|进|入|上来|上嚟|入嚟|出嚟|过嚟)|"
        r"(在|正在)爆炸|(黑烟|浓烟|火光)冲天|(火|火势).{0,4}(控制不住|扑不灭|灭不了|压不住)|"
        r"(里面|屋里|家里|车里|楼里|房间里)(全是|都是|好多|很多|好大)的?烟(?!味|头|蒂)|"
        r"(厨房|燃气|煤气|天然气|灶|屋里|家里).{0,10}臭鸡蛋|臭鸡蛋(味|的味|气味).{0,12}(燃气|煤气|天然气|不敢|头晕|越来越)|"
        r"(燃气|煤气|天然气|气)(表|管|管子|软管|管道|阀|阀门|灶|罐|瓶).{0,8}(嘶嘶|呲呲|滋滋)|"
        r"(电梯|䢂|𨋢|升降机).{0,4}(卡|停|困)(在|住)?.{0,10}(中间|之间).{0,12}(里面|里头|入面|入边|人|孩子|我|BB)|"
        r"(电梯|䢂|𨋢).{0,4}(往下掉|掉了一截|掉下去)|困(咗|住)?喺.{0,4}(电梯|䢂|𨋢|升降机|屋|楼|车)|"
        r"(淹|水)(到|过|没|漫到|漫过|没过|浸到|浸过)了?.{0,3}(胸口|腰|脖子|肩膀|车窗|窗户|窗台|二楼|三楼|屋顶|房顶)(?!的)|"
        r"(泡|淹)在水里.{0,8}(还有人|人还在|有人)|(进水|水漫进来|水涌进来).{0,16}(门打不开|出不来|出不去|还在车里|坐着人)|"
        + _PERSON
        + r"(不小心|失足)?(掉|摔|跌|落)(进|到|下)了?.{0,6}(池|塘|河|江|湖|井|海|水库|水沟|河沟)(里|中)?了|"
        r"(出唔到去|出唔去|走唔到|逃唔出|走唔甩|出唔到嚟)|越烧越(大|旺|猛|厉害)|"
        # Anyone fallen into the sea, a river or a pond (跌咗落海), a limb caught (夹住…拔唔出).
         + _PERSON + r"(不小心|失足)?(跌|掉|踢)咗?落(海|河|水|塘|池|井|坑渠|鱼塘|水塘|码头)|"
        r"(卡|夹)(住|咗).{0,10}(拔不出|拔唔出|攞唔出|拉唔出)"
    ),
    "medical": re.compile(
        r"晕倒|昏倒|昏迷|晕过去|昏过去|不省人事|叫不醒|叫也没反应|没(有)?呼吸|"
        + _PERSON
        + r".{0,4}没气了|快没气了|没反应|一动不动|不动了|心跳停|"
        r"心脏骤停|心脏病发|抽搐|休克|大出血|流(了|咗)?(好多|很多|一地|不少|这么多)(的)?血|血流唔止|血止唔到|流紧血|血流不止|血.{0,4}止不住|一直(在)?流血|满脸是血|倒地不起|突然倒|"
        r"喘不(上|过)来?气|(喘气|呼吸)困难|(嘴唇|脸色)发(紫|青|乌)|脸(都|也)?发(紫|乌)|哮喘(犯|发作)|说不出话|说话不清|半边身子|(嘴|口).?歪(了|咗)|胸口.{0,2}痛|羊水破|要生了|破水|孩子(的)?头都?(出来|露出来)了|(怀孕|孕)[\d一二三四五六七八九十几]+个?多?月.{0,12}(剧痛|疼|流血|出血|流水|流了)|中毒|"
        r"喝了?农药|吞了|吃了.{0,6}(安眠药|整瓶|药当糖)|割腕|要自杀|想自杀|溺水|遇溺(?!.{0,3}(点算|怎么办|点办|急救|班|课|讲座|知识|演习))|落水|触电|噎住|"
        # Then: a fall from height, down and unable to get up, not answering, poisoning, electric shock,
        # a dog attack that draws blood, heavy bleeding in other words.
        r"没(有)?(脉搏|心跳)|心肺复苏|人工呼吸|大面积(烫|烧)伤|血肉模糊|躺着不动|透不过气|唞唔到气|透唔到气|索唔到气|呼吸困难|药当糖|见红|郁唔到|冇反应|晕咗|"
        # Cantonese: fainted (晕低), collapsed and not waking (瞓低咗…唔醒), not waking when called,
        # an ambulance called or awaited (叫救护车 / 白车), something swallowed (吞咗…电池).
        r"晕低|昏低|(突然|成个人)瞓低|瞓低(咗|左)?.{0,8}(唔醒|冇反应|唔郁|郁唔到|唔识郁)|(叫|喊|拍|摇|推)(极|佢)?(都|也)?唔醒|(叫|喊)(佢|极)?唔应|"
        r"(快|快啲|快点|帮我|帮手|麻烦|马上|赶紧)(叫|打|call)(架|辆|部)?(救护车|白车)|叫(咗|了)(救护车|白车)|(救护车|白车)(仲未|还没|还未|未)(到|嚟|来)|"
        r"吞(咗|了).{0,6}(药|电池|纽扣|硬币|磁|安眠|老鼠|玻璃|刀片)|"
        + _PERSON
        + r".{0,8}从.{0,10}(楼梯|楼|阳台|窗|架子|屋顶|房顶|梯子|树|高处)上?(掉|摔|跌|坠|滚)下(来|去)|坠楼|"
        r"(摔|跌|滑|栽)(倒|亲|低|咗|落).{0,14}(起不来|爬不起来|站不起来|动不了|不会动|唔识郁|郁唔到|起唔到|企唔起|冇反应|唔醒|(流|出)(了|咗)?(好多|很多|一地)血)|突然(栽倒|晕|昏|犯病|发病)|"
        r"(叫|喊)(他|她|佢)(也|都)?(不答应|没应|不应|唔应|不吭声|不太应|不太理)|(叫|喊)极?(也|都)(不答应|没应|不应|唔应|不吭声)|"
        r"(现在|叫|喊).{0,6}迷迷糊糊|"
        r"(蘑菇|菌子).{0,12}(吐|泻|晕|站不起来|抽|虚脱)|(抖|抽).{0,8}翻白眼|憋(紫|青)|(脸|面)(都)?紫(了|咗)|"
        r"误(食|吃|服|喝)|喝了?.{0,4}(消毒|洗洁精|洗衣液|洗涤剂|清洁剂|洁厕|漂白|敌敌畏|百草枯|汽油|老鼠药|杀虫剂|除草剂)|吃了?.{0,4}(老鼠药|毒鼠|杀虫剂)|"
        r"当(成|作)了?.{0,4}(喝|吃)了|"
        r"被电(了|到|倒|晕|击|打).{0,12}(倒|不动|没反应|叫不醒|昏|晕|黑|抽|掉|摔)|(碰|摸|挨|触)到?.{0,2}(高压线|电线).{0,12}(倒|不动|没反应|昏|晕|挂)|"
        r"狗.{0,12}(咬|扑).{0,12}(血|倒|拉不开|不松口|不放)|"
        r"(头|脸|身|腿|手|脚|膝盖|胳膊|手臂|身上)上?(全|都)是血|满(头|身|手)(都)?是血|血(一直|不停)?往外(喷|涌|冒)|"
        r"血(一直|不停)(喷|涌)|血喷出来|"
        # Chest pain with a cold sweat, not answering in more words, a child who swallowed a
        # handful of pills, charcoal fumes with someone down, scalds that blister, throat swelling shut,
        # CPR under way, a stroke's face, a limb caught in a machine, a person pulled from water and still.
        r"(抽搐|抽咗|抽筋|羊癫疯|发羊吊|癫痫).{0,12}(未停|没停|停不下来|停唔到|还在抽|唔停|仲抽紧)|(胸口|心口|胸).{0,8}(痛|疼|闷|翳|压).{0,16}(冷汗|冒汗|出汗|是汗)|口吐白(沫|泡)|"
        r"(叫|喊)(他|她|佢)(也|都)?(不怎么|唔点)(答应|应|理)|(叫|喊)(他|她|佢)?(也|都)?没(有)?回应|"
        r"(怎么|咋|点)(叫|喊|拍|摇|推)(都|也)(不醒|唔醒|没反应|不应)|(喊|拍|摇|推)不醒|"
        r"(吃|吞|喝|食)(了|咗).{0,3}(一把|半板|一板|整板|一瓶|半瓶|整瓶|好几片|几十片|一大把|一整盒|半盒|一排|成板|成樽|一樽|半樽|成盒|成把|成瓶)"
        r"(?!.{0,10}(都|也)(唔见好|不见好|没好|冇好|没用|冇用|无效|未好|不管用))|"
        r"(药|药片|药丸).{0,3}(吃|吞|食)(了|咗).{0,2}(一把|半板|一板|整板|一瓶|半瓶|整瓶|好几片|几十片|一大把|一整盒|半盒|一排|成板|成樽)|"
        r"(炭|煤炉|煤球|炉子).{0,20}(全家|一家|都|人).{0,8}(头晕|想吐|吐了|站不起来|站不住|站都站不起来|叫不醒|昏)|"
        r"烫(了|伤|到).{0,16}(整条|一大片|大面积|皮都掉|皮掉了|尖叫|背过气)|"
        r"(快|都|要)不能呼吸|不能呼吸了|吸不上气|按压胸口|按胸口|胸外按压|摸不(到|着)脉|"
        r"半边(脸|手|身)|脸.?歪了|讲不出话|讲唔到嘢|血流了?(好多|很多|一地)|(头|脑袋|额头)(在)?(流血|出血)(?!的)|磕破了?头|"
        r"(手|胳膊|腿|头发|衣服).{0,2}(被)?(卷进|绞进|夹进|卷到|绞到)了?.{0,4}(里|了)|"
        r"(捞|拉|救|拖)(上来|出来).{0,12}(不哭|不动|没反应|没气|发白|发紫|发青|不醒|不咳)"
    ),
}
# Each rule behind a guard on the characters its matches start with: the same matches, a fifth of the time.
_EMERGENCY_RULES = {kind: guarded(rule) for kind, rule in _EMERGENCY_PATTERNS.items()}
_NOT_NOW = re.compile(
    r"上个?月|去年|前年|昨天|昨晚|昨夜|前晚|前天|前几天|前[一两三四五]天|前些(天|日子)|几天前|早前|上回|"
    r"上个?(周|礼拜|星期)|以前|之前|曾经|过去(的|[一二两三四五六七八九十几半好多]|那|曾)|(事情|事|都)过去了|上次|那次|预防|演练|宣传|消防通道|"
    r"消防栓|灭火器(?!.{0,2}(喷完|用完|喷光|用光|不管用|没用|灭不了|扑不灭))|防火|车祸多发|事故多发|以免|免得|防止|避免|怎么(预防|办理|申请)|如何(预防|办理)|培训|知识|保险理赔|理赔|赔偿|鉴定|"
    # Recurring nuisances and what-ifs ("烧烤摊每晚冒烟", "万一起火") are complaints, not events now.
    r"每天|每晚|每次|天天|经常|老是|总是|三天两头|隔三差五|万一|一旦|假如|年初|年前|出过|发生过|(撞|困|伤|咬|抢|打|偷|摔)过(以后|之后|后|一次|两次|几次|好几次)|一下雨|一到(晚上|夜里|半夜|周末|下雨|冬天|夏天|天黑)|每逢|每到|成日|成晚|日日|晚晚|那天|那晚|当时|"
    # Cantonese, Hong Kong and Taiwan: yesterday, last year, that day / night / time, a while ago,
    # every time, always.
    r"寻日|琴日|㖊日|噚日|寻晚|琴晚|㖊晚|噚晚|前日|旧年|上年(?!纪)|早排|前排|[嗰𠮶](日|晚|阵|次|时)|次次|周不时|不嬲|"
    r"(要是|如果|若是|倘若|若果|如果係|假设).{0,8}(着火|起火|失火|火灾|烧起来|出事|爆炸|漏气|塌|火烛|不见|唔见|走失|走丢|走散|"
    r"遇溺|溺水|晕|被车撞|俾车撞)|"
    # "X的话" is a what-if too (瓦斯外泄的话打哪个电话, 小朋友走失的话).
    r"(着火|起火|失火|火灾|火烛|漏气|外泄|泄漏|走失|走丢|走散|不见了|唔见咗|遇溺|溺水|晕倒|被车撞|俾车撞)的话|"
    # Found afterwards ("孩子回来胳膊上有手指印"): harm already over, a complaint to investigate.
    r"(?<![没不])回(来|家)(后|以后|之后)?.{0,4}(发现|身上|胳膊|脸上|腿上|手上|背上)|"
    # Missing for years ("走丢了好几年了"), and asking whom to report to ("食物中毒要向哪个部门举报").
    r"(走丢|走失|失踪)了?[好十几多一二两三四五六七八九十]+个?多?(年|个月)|(哪个|哪些|边个|什么)部门|该找谁|归谁管|(去|到)哪(里|儿)?求助"
)
# Said after every not-now word, these put the message back in the present: a history first, then what is
# happening now ("他之前就有心脏病 现在叫不醒了", "我妈每天下午去公园 今天到现在还没回来"). The rules then read
# the message from that word on, so a past event told before it ("昨天被车撞了 现在还在医院") stays past.
_NOW = re.compile(
    r"(?<![到至直])(现在|而家|宜家|依家)|刚才|刚刚|正在|此刻|头先|啱啱|啱先|这会儿|这次|这回|今次|今天|今早|今晚|今日|今朝"
)
# Long-standing problems ("好几个晚上了", "三个月了都没人修"): no rule needs them, but the model's emergency
# reading of a message that carries one or a not-now word needs more than the usual threshold.
_LONG_STANDING = re.compile(
    r"(好几|好多)(次|回|个晚上|天了)|一周好几|[一两三四五六七八九十半几]+个?多?(月|年)(了|多|都|没|还)"
)
# The probability the model's emergency needs when the message says it is not happening now.
NOT_NOW_MODEL_THRESHOLD = 0.5
# A crash with a hurt person is 122 even when the words for the injury are a medical rule's.
_CRASH = re.compile(
    r"(车|摩托|电瓶|自行|单车|三轮|货车|卡车|公交|大巴|渣土|的士|巴士).{0,8}撞|撞(到|上|了).{0,6}(车|护栏|树|墙|电线杆|桥墩|隔离带)|"
    r"车祸|追尾|翻车|车.{0,6}冲(到|进|上)"
)
# A stated intent of suicide with a plan, a time or a goodbye (110 first).
_SUICIDE_WORDS = (
    r"(不想活|活不下去|想死|去死|自杀|轻生|寻短见|了结自己|了解自己|结束自己|结束生命|唔想再生存|唔想活|不想再活|活够了)"
    r".{0,30}(今晚|今天|现在|马上|准备好|准备了|吞了|吃了|药|天台|楼顶|跳|再见|别找我|永别|遗书|最后|告别|拜拜)|"
    # 解脱 is also relief after an exam: only with a goodbye.
    r"(解脱|姐脱|解托).{0,20}((别|不要|唔好)找我|永别|遗书|来世|下辈子)|"
    # The plan told first ("我已经吞了一整盒药，不想活了", "买好木炭了 今晚就解脱 不要找我").
    r"(吞了|吃了|喝了|食咗|饮咗|吞咗|买好|准备好|备好|烧)(了)?.{0,8}(药|安眠药|农药|百草枯|木炭|炭|绳子?|刀片)"
    r".{0,30}(不想活|活不下去|想死|解脱|姐脱|(别|不要|唔好)找我|永别|遗书)|"
    r"(把|将).{0,4}(药|安眠药|农药|百草枯)(都|全|全部|一起)?(吃|吞|喝|食)(了|光|完|咗|晒)"
    r".{0,30}(不想活|活不下去|想死|解脱|(别|不要|唔好)找我|永别|再见|遗书|最后|拜拜)|"
    r"(天台|楼顶|桥上|河边|江边|窗台).{0,20}(不想活|想死|跳下去|自杀)"
)
# Reports the per-kind rules above miss, by category (issue 17's list of what people really report):
# chemical and gas leaks and explosions, collapses with people under them (119); electric shock (120);
# a stated intent of suicide with a plan or a goodbye, a small child taken or lost (110).
_CATEGORY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "medical",
        re.compile(
            r"触电|电到人|(被|俾)电(到|亲|咗|倒|晕)|漏电.{0,12}(人|倒)|(电线|高压线|电缆).{0,10}(掉|断|垂|落).{0,16}(人|倒|碰|电)|"
            # Typed by ear: 有人出电 / 处电 for 触电 (not 终于出电了, the power back).
            r"(人|他|她|佢)(出|处|畜)电(了|咗)"
        ),
    ),
    (
        "fire",
        re.compile(
            r"(化学品|化工|危化品|危险品|罐车|槽罐车|氯气|氨气|液氨|硫化氢|毒气|有毒气体|有毒物质|实验室|工厂|厂房|仓库)"
            r".{0,12}(泄漏|泄露|泄楼|泄搂|外泄|漏了|漏咗|漏出|漏东西|流出|爆炸|炸了|着火|起火)|爆炸了|"
            # Smoke or fumes, and people already sick from them (a leak or a fire nobody has named yet).
            # (Smells and haze are everyday complaints: only smoke or gas, and people falling or gasping.)
            r"(?<!雾)(烟|气体|毒气)(?!花).{0,24}(好几个|几个|很多|好多|一群|不少|大家|所有|全部|我们|工人|同事|学生|人)"
            r".{0,12}(晕倒|晕了|晕低|昏倒|昏迷|喘不|透不过气|呼吸困难|睁不开|倒下|倒地)|"
            # Fire typed by ear: 着伙 / 失伙 for 着火 / 失火.
            r"(着|著|失)伙|"
            # 瓦丝 is 瓦斯 typed by ear.
            r"(闻到|好大|很大|好重|很重|好臭|很臭|超臭|好浓)的?.{0,2}(煤气|燃气|天然气|瓦斯|瓦丝)|"
            r"(煤气|燃气|天然气|瓦斯|瓦丝)(味|气味)?(好|很|超|特别|非常)(大|重|臭|浓|冲|呛)|"
            r"(塌|倒塌|垮|塌下来|塌下嚟|塌落|塌咗|掉下来|踏了|蹋了|倒踏|倒蹋|踏下来|蹋下来).{0,12}"
            r"(压住|压着|被压|压在|埋住|埋了|困住|砸中|砸到|砸伤|压咗)|"
            r"(被|俾)(压|埋|砸)(住|在|中|伤|咗)"
        ),
    ),
    (
        "police",
        re.compile(
            _SUICIDE_WORDS + r"|"
            # A beating going on at home ("我爸又喝酒在打我妈 她头流血了"), told with the harm or a plea.
            r"(爸|老公|丈夫|男朋友|男友|老婆|继父|后爸|他|她|佢|儿子|哥|弟)(又|在|正在|一直|还在|往死里)+.{0,6}"
            r"打(我|人|他|她|佢|孩子|小孩|妈|爸)(?!电话|游戏|球|牌|麻将|工)"
            r".{0,16}(血|晕|救|快来|报警|拜托|不行了|没气|不动)|往死里打|"
            r"(孩子|小孩|儿子|女儿|宝宝|娃|细路|囡囡|小朋友|孙子|孙女)(.{0,4})(丢了|丢咗|被.{0,8}(抱走|带走|接走|拐走|拐了|抢走))|"
            r"([\d一二两三四五六七八九十]+|几)岁半?.{0,10}(不见了|丢了|走丢|找不到|唔见)"
        ),
    ),
)
_CATEGORY_RULES = tuple((kind, guarded(rule)) for kind, rule in _CATEGORY_PATTERNS)  # behind the same guard
_SUICIDE = guarded(re.compile(_SUICIDE_WORDS))
# Voice input sometimes arrives as pinyin ("wo jia zhao huo le"): the unmistakable events only.
_PINYIN_RULES: dict[str, re.Pattern[str]] = {
    "traffic": re.compile(r"zhuangche|chehuo|beichezhuang|zhuangren|zhuangdaoren|fanche|beizhuang"),
    "fire": re.compile(
        r"zhaohuo|zhaolehuo(?!che)|qihuo|qilehuo|shihuo|maoyan|nongyan|huozai|meiqixie|ranqixie|wasixie|"
        r"(meiqi|ranqi|wasi|huaxuepin|duqi)[a-z]{0,4}(xielou|xielu|louqi|loule)|baozhale|beikun|kunzai[a-z]{0,8}(lou|jia|li)|"
        r"tale[a-z]{0,12}yazhu|yazhule|beiyazhu|shuiyijing|shuiyanle"
    ),
    "medical": re.compile(
        r"yundao|hundao|hunmi|jiaobuxing|meihuxi|meiqile|chuanbushangqi|chuanbuguoqi|xiongkou[a-z]{0,6}(teng|tong)|"
        r"xinzangbing|xinzang[a-z]{0,6}(ting|fa)|huxikunnan|buxingren|chudian|nishui|luoshui|"
        r"diao(jin|dao)[a-z]{0,4}(heli|shuili|jiangli|haili|huli|he|shui|chi|tang|ku|jing|qu|hu|hai|jiang)|"
        r"meishanglai|shangbulai|chenxiaqu|yanmo|zhongdu|tunle[a-z]{0,8}yao|anmianyao|"
        r"kuaijiaojiuhuche|kuaijiao120|jiao120"
    ),
    "police": re.compile(
        r"payangtai|fanyangtai|qiangjie|dajie(?!dao)|youxiaotou|weizhuwo|weizhule|duzhuwo|burangwozou|"
        r"kanren|tongren|sharen|nadao|chidao|zaidawo|youzaidawo|dawoma|jiabao|bangjia|"
        r"(haizi|xiaohai|erzi|nver|nuer|baobao)[a-z]{0,6}(bujianle|diule|zoudiule|zoushile)|"
        r"buxianghuole|buxiangzaihuo|yaotiaolou|tiaolou|yaozisha|zisha"
    ),
}


def _present_part(text: str, *patterns: re.Pattern[str]) -> str | None:
    """The part of ``text`` that tells the present: all of it when no pattern matches, else from the first
    now-word after the last match of any pattern on, or None when no now-word follows."""
    last = -1
    for pattern in patterns:
        for m in pattern.finditer(text):
            last = max(last, m.end())
    if last < 0:
        return text
    now = _NOW.search(text, last)
    return text[now.start() :] if now else None


def not_now(text: str) -> bool:
    """True when the message says its event is past, recurring, long-standing or hypothetical (and says
    nothing about now after that)."""
    return _present_part(text, _NOT_NOW, _LONG_STANDING) is None


# Who comes first when the injury is the symptom of something else: a leak of gas or chemicals, even after a
# crash or with someone down, is 119's (they contain it; 120 and 122 follow); a beating that draws blood is
# 110's; a person struck by a live wire is 120's unless a vehicle crashed into it (then 122, as above).
_HAZMAT = re.compile(
    r"(化学品|化学药剂|化工|危化品|危险品|罐车|槽罐车|槽车|氯气|氨气|液氨|硫化氢|毒气|有毒气体|煤气|燃气|天然气|瓦斯|瓦丝|一氧化碳)"
    r".{0,8}(泄漏|泄露|外泄|漏|味|中毒|流出|冒)|毒气|有毒气体|一氧化碳中毒"
)
_ASSAULT = re.compile(
    r"(在|又|正在|一直)打(我|人|他|她|佢)(?!电话|游戏)|打(我|他|她|佢)(妈|爸|老婆|老公|姐|妹|哥|弟)(?!电话)|家暴|"
    r"(拿刀|持刀|用刀)(砍|捅|刺)|(砍|捅)(伤|了)?(人|我|他|她)|行凶|抢劫|打劫|持刀"
)
_LIVE_WIRE = re.compile(r"(电线|高压线|电缆|变电箱|电箱).{0,12}(人|他|她|碰|摸|倒)|触电|漏电|电到人|被电")


def who_first(kind: str, words: str, text: str) -> tuple[str, str]:
    """The service whose number leads, for an emergency of ``kind`` found by ``words`` in ``text``."""
    if kind in ("medical", "traffic") and (m := _HAZMAT.search(text)):
        return "fire", f"{m.group(0)}+{words}"
    if kind == "medical" and (m := _ASSAULT.search(text)):
        return "police", f"{m.group(0)}+{words}"
    if kind == "traffic" and not _CRASH.search(text) and (m := _LIVE_WIRE.search(text)):
        return "medical", f"{m.group(0)}+{words}"
    return kind, words


def emergency_rule(text: str) -> tuple[str, str] | None:
    """The emergency kind and the words that show it is happening now, or None."""
    present = _present_part(text, _NOT_NOW)
    if present is None:
        # A stated plan to die is read whatever else the message looks back on ("吞了一整盒药，不想活了，谢谢你们
        # 以前的帮忙"); told in the past it is still only possible (handlers/urgency.py reads not_now).
        m = _SUICIDE.search(text)
        return ("police", m.group(0)) if m else None
    text = present
    # The per-kind rules first: their order (a crash with injuries is 122) and the crash check decide the
    # number; the category rules catch what they miss, as their comment says.
    for kind, rule in _EMERGENCY_RULES.items():
        m = rule.search(text)
        if m:
            crash = _CRASH.search(text) if kind == "medical" else None
            if crash:
                kind, words = "traffic", f"{crash.group(0)}+{m.group(0)}"
            else:
                words = m.group(0)
            return who_first(kind, words, text)
    for kind, rule in _CATEGORY_RULES:
        m = rule.search(text)
        if m:
            return kind, m.group(0)
    # Pinyin only in a message written in pinyin (tone marks dropped): Latin letters in a Chinese message
    # are names, units and app names, not words.
    letters = re.sub(r"[^a-z]", "", unicodedata.normalize("NFD", text.lower()).encode("ascii", "ignore").decode())
    if len(letters) < 2 * len(_CJK.findall(text)):
        return None
    bare = letters
    for kind, rule in _PINYIN_RULES.items():
        m = rule.search(bare)
        if m:
            return kind, m.group(0)
    return None
