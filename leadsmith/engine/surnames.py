"""Common East Asian family names (romanised), to tell when a name is written family name first."""

from __future__ import annotations

import re
from functools import lru_cache

CHINESE = frozenset(
    """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen
    yao jin fu zhong tan lv lu shi cui qiu qin jia xia fang hou zou xiong meng kong bai yan mao hao gu shao
    wan qian qi lei long duan hao tao dai fan gong hong wen niu geng ni mo ou yin jiao chang kang ke kuang
    lai lan lian liao ling mei miao nie ning pei pu qu rao ruan sang shan shang she tong tu weng xiang xin
    yi ying you zang zhan zhuang zhuo zuo bao bi bian bo chai che chi chu ci dang di diao dou e fei gan
    ge guan gui hang hua ji jian jie jing ju kan kou ku lang le leng lou mai man mu nan ning ou pang
    qiao quan ran rong sha si sui tai teng wu xi xing xue yun zha zhen
    """.split()
)
KOREAN = frozenset(
    """
    kim lee park choi jung jeong kang cho yoon yun jang lim han oh seo shin kwon hwang ahn song jeon hong
    ko moon yang son bae baek heo yoo noh nam ha kwak sung cha joo woo koo min ryu na jin
    """.split()
)
VIETNAMESE = frozenset(
    """
    nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly truong dinh lam mai trinh
    """.split()
)
# The most common ones, which are rarely given names: where both parts of a name are in the lists
# above (Wei Wang), the one in this list is taken as the family name.
TOP = frozenset(
    """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang du ye cheng su lu ding ren shen yao
    kim lee park choi jung jeong kang cho yoon nguyen tran pham hoang huynh phan vu
    """.split()
)
FAMILY_FIRST = CHINESE | KOREAN | VIETNAMESE

_SYLLABLE = re.compile(
    r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])(iang|iong|uang|ueng|iao|ian|uai|uan|ang|eng|ong|ai|ei|ao|ou|an|en|er|"
    r"ia|ie|iu|in|ing|ua|uo|ui|un|ue|a|o|e|i|u|v)"
)
_FIRST_SYLLABLE = re.compile(r"(ang|eng|ai|ao|ou|an|en|er|a|o|e)")


@lru_cache(maxsize=65536)
def pinyin_like(token: str) -> bool:
    """Whether a lower-case token splits into one to three pinyin syllables (hanxiang, zhiqiang, lei)."""

    def split(rest: str, count: int) -> bool:
        if not rest:
            return 0 < count <= 3
        if count >= 3:
            return False
        return any(
            _SYLLABLE.fullmatch(rest[:end]) is not None and split(rest[end:], count + 1)
            for end in range(len(rest), 0, -1)
        )

    if split(token, 0):
        return True
    lead = _FIRST_SYLLABLE.match(token)
    return bool(lead) and split(token[lead.end() :], 1) if lead else False
