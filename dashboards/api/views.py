from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards import selectors
from dashboards.forms import PeriodForm

from .serializers import BoardSerializer, PeriodQuerySerializer


class TownshipFiguresView(APIView):
    """各乡镇统计指标（来自汇总数据，按角色限定乡镇）。"""

    @extend_schema(parameters=[PeriodQuerySerializer], responses=BoardSerializer)
    def get(self, request):
        # The page's period form: a bad parameter falls back to the default period, as on the page.
        period = PeriodForm(request.query_params or None).period_or_default()
        board = selectors.board(request.user, period)
        data = {
            "period": period.label,
            "refreshed_at": board.stamp.refreshed_at if board.stamp else None,
            "townships": [
                {"id": g.id, "name": g.name, "figures": g.figures, "behind_targets": sorted(g.misses)}
                for g in board.groups
            ],
            "total": board.total,
        }
        return Response(BoardSerializer(data).data)
